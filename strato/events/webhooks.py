"""Delivering queued webhook deliveries: one task per subscription, so a slow or dead
endpoint holds up only its own deliveries.

A subscription's task takes the deliveries that are due and head their resource
(:func:`strato.schema.webhooks.due`), posts them side by side (each signed,
:mod:`strato.events.signing`), and records the outcome: a 2xx is delivered; anything
else is tried again after an exponential backoff with jitter, and is dead after the
subscription's ``max_attempts`` (visible through the API, redeliverable by hand). A
dead delivery no longer holds back the later events of its resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import aiohttp

from strato.domain.models import Event
from strato.domain.webhooks import Webhook
from strato.events import signing, targets
from strato.schema import webhooks
from strato.schema.db import Database

log = logging.getLogger(__name__)

BATCH = 200  # deliveries in flight per subscription


@dataclass(frozen=True)
class Retry:
    initial_s: float = 1.0
    max_s: float = 300.0

    def after(self, attempts: int) -> timedelta:
        """The wait before attempt ``attempts + 1``: doubling, capped, half of it jitter."""
        base = min(self.initial_s * 2 ** max(attempts - 1, 0), self.max_s)
        return timedelta(seconds=base * random.uniform(0.5, 1.0))


@dataclass
class Outcome:
    delivery_id: int
    attempts: int  # before this one
    status: int | None
    error: str | None


class Deliverer:
    """The subscriptions' delivery tasks (run by the relay's leader)."""

    def __init__(
        self,
        db: Database,
        http: aiohttp.ClientSession,
        *,
        retry: Retry,
        networks: list[targets.Network],
        source: str = "/strato",
    ) -> None:
        self.db = db
        self.http = http
        self.retry = retry
        self.networks = networks
        self.source = source
        self.tasks: dict[UUID, asyncio.Task[None]] = {}
        self.kicks: dict[UUID, asyncio.Event] = {}
        self.hooks: dict[UUID, tuple[Webhook, str]] = {}

    def kick(self) -> None:
        """New deliveries were queued: every subscription looks now."""
        for ev in self.kicks.values():
            ev.set()

    def sync(self, subscriptions: list[tuple[Webhook, str]]) -> None:
        """One task per enabled subscription; a removed or disabled one's task ends, and
        one that ended by itself (it should not) is logged and started again."""
        self.hooks = {w.id: (w, secret) for w, secret in subscriptions}
        for hook_id, task in list(self.tasks.items()):
            if task.done() and hook_id in self.hooks:
                if not task.cancelled() and task.exception() is not None:
                    log.error(
                        "webhook %s: its delivery task failed", hook_id, exc_info=task.exception()
                    )
                del self.tasks[hook_id]
        for hook_id in self.hooks.keys() - self.tasks.keys():
            self.kicks[hook_id] = asyncio.Event()
            self.tasks[hook_id] = asyncio.create_task(self._serve(hook_id))
        for hook_id in self.tasks.keys() - self.hooks.keys():
            self.tasks.pop(hook_id).cancel()
            self.kicks.pop(hook_id)

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        self.kicks.clear()

    async def _serve(self, hook_id: UUID) -> None:
        while hook_id in self.hooks:
            kick = self.kicks[hook_id]
            kick.clear()
            wait = 1.0
            try:
                if await self._round(*self.hooks[hook_id]):
                    continue
                async with self.db.conn() as conn:
                    wait = await webhooks.next_due_in(conn, hook_id) or 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook %s: delivery round failed; will retry", hook_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), min(wait, 1.0))

    async def _round(self, hook: Webhook, secret: str) -> int:
        """Post one batch of due deliveries; how many were tried."""
        async with self.db.conn() as conn:
            batch = await webhooks.due(conn, hook.id, BATCH)
            if not batch:
                return 0
            found = await webhooks.events_by_id(conn, [e for _, e, _ in batch])
        refused, address = await targets.resolve(
            hook.url, allow_internal=hook.allow_internal, networks=self.networks
        )
        outcomes = await asyncio.gather(
            *(
                self._post(hook, secret, found[event_id], delivery_id, attempts, refused, address)
                for delivery_id, event_id, attempts in batch
            )
        )
        await self._record(hook, outcomes)
        return len(batch)

    async def _post(
        self,
        hook: Webhook,
        secret: str,
        event: Event,
        delivery_id: int,
        attempts: int,
        refused: str | None,
        address: targets.Address | None,
    ) -> Outcome:
        if refused is not None or address is None:
            return Outcome(delivery_id, attempts, None, f"refused: {refused}")
        url, host, tls_name = targets.pinned(hook.url, address)
        body = json.dumps(event.cloudevent(self.source), separators=(",", ":")).encode()
        headers = {
            "Content-Type": signing.CONTENT_TYPE,
            signing.EVENT_ID_HEADER: str(event.id),
            signing.WEBHOOK_ID_HEADER: str(hook.id),
            signing.SIGNATURE_HEADER: signing.sign(secret, body, int(time.time())),
            **host,
        }
        try:
            async with self.http.post(
                url,
                data=body,
                headers=headers,
                server_hostname=tls_name,
                allow_redirects=False,
            ) as r:
                status = r.status
                await r.content.read(65536)  # the answer read: the connection is kept
        except (aiohttp.ClientError, TimeoutError) as err:
            return Outcome(delivery_id, attempts, None, f"{type(err).__name__}: {err}")
        if 200 <= status < 300:
            return Outcome(delivery_id, attempts, status, None)
        return Outcome(delivery_id, attempts, status, f"HTTP {status}")

    async def _record(self, hook: Webhook, outcomes: list[Outcome]) -> None:
        ok = [o for o in outcomes if o.error is None]
        async with self.db.tx() as conn:
            await webhooks.delivered(conn, [o.delivery_id for o in ok], [o.status or 0 for o in ok])
            for o in outcomes:
                if o.error is None:
                    continue
                state = await webhooks.failed(
                    conn,
                    o.delivery_id,
                    status=o.status,
                    error=o.error,
                    retry_in=self.retry.after(o.attempts + 1),
                    max_attempts=hook.max_attempts,
                )
                if state == "dead":
                    log.warning(
                        "webhook %s: delivery %s dead after %s attempts (%s)",
                        hook.id,
                        o.delivery_id,
                        o.attempts + 1,
                        o.error,
                    )
