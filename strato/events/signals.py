"""The relay's workflow sink: each event a workflow subscribed to
(:mod:`strato.domain.event_signals`) is sent to it as a Temporal signal,
``strato.event`` with the event's CloudEvents envelope, in event order per workflow.

A batch goes out whole or is tried again (a workflow may then get an event twice; the
SDK's inbox drops it by id). A workflow that has ended (Temporal answers NOT_FOUND) has
its subscriptions dropped.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from strato.domain.event_signals import SIGNAL, wants
from strato.domain.models import Event
from strato.schema import event_signals
from strato.schema.db import Database
from strato.settings import Settings
from strato.temporal import connect_to

log = logging.getLogger(__name__)


class WorkflowSignals:
    """A sink of the relay (see ``strato.events.relay.Sink``)."""

    def __init__(self, db: Database, settings: Settings, *, source: str = "/strato") -> None:
        self.name = "signals"
        self.db = db
        self.settings = settings
        self.source = source
        self._client: Client | None = None

    async def ready(self) -> bool:
        return True

    async def _temporal(self) -> Client:
        if self._client is None:
            self._client = await connect_to(self.settings, wait_s=5)
        return self._client

    async def publish(self, batch: list[Event]) -> None:
        async with self.db.conn() as conn:
            subs = await event_signals.every(conn)
        if not subs:
            return
        per_workflow: dict[str, list[Event]] = {}
        for event in batch:
            for wf in dict.fromkeys(s.workflow_id for s in subs if wants(s, event)):
                per_workflow.setdefault(wf, []).append(event)
        if not per_workflow:
            return
        client = await self._temporal()
        ended = await asyncio.gather(
            *(self._send(client, wf, events) for wf, events in per_workflow.items())
        )
        for wf in (w for w in ended if w is not None):
            async with self.db.tx() as conn:
                dropped = await event_signals.forget_workflow(conn, wf)
            log.info("workflow %s has ended: %d event subscriptions dropped", wf, dropped)

    async def _send(self, client: Client, workflow_id: str, events: list[Event]) -> str | None:
        """Signal ``events`` in order; the workflow's id if it has ended."""
        handle = client.get_workflow_handle(workflow_id)
        for event in events:
            try:
                await handle.signal(SIGNAL, event.cloudevent(self.source))
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return workflow_id
                raise
        return None

    async def close(self) -> None:
        self._client = None
