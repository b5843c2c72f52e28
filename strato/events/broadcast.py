"""One reader of the outbox per API process, shared by every event stream (SSE) it serves.

The broadcaster starts with the first stream. It listens for the outbox's commit
notification (``strato_events``; a poll every second covers a missed one), reads what
is new once, and hands the rows to every open stream's queue: a hundred streams cost
the database what one costs. It also checks, in one query for all of them, that the
streams' API keys are still live. A stream that starts behind (``Last-Event-ID``) reads
its backlog itself, up to where the broadcaster started handing it rows, and then
follows the broadcaster. A stream that falls too far behind (its queue full) is ended,
saying so; its client resumes from the last id it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from strato.domain.models import Event
from strato.schema import api_keys, events
from strato.schema.db import Database

log = logging.getLogger(__name__)

QUEUE_LIMIT = 20_000  # events a stream may lag before it is ended


@dataclass(eq=False)
class Subscription:
    key_id: UUID
    floor: int  # every event above this id reaches the queue
    queue: asyncio.Queue[list[Event]] = field(default_factory=asyncio.Queue)
    queued: int = 0
    ended: str | None = None  # why the broadcaster ended it
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    core_key: bool = True  # key_id is one of the core's API keys (checked here)

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self.wake.set()

    def take(self) -> list[Event]:
        """Everything queued so far, in id order."""
        rows: list[Event] = []
        while not self.queue.empty():
            rows.extend(self.queue.get_nowait())
        self.queued = 0
        self.wake.clear()
        return rows


class Broadcaster:
    def __init__(self, db: Database, *, key_check_s: float, poll_s: float = 1.0) -> None:
        self.db = db
        self.key_check_s = key_check_s
        self.poll_s = poll_s
        self.position = 0
        self.subscriptions: set[Subscription] = set()
        self.reads = 0  # outbox reads made (what the streams cost the database)
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()
        self._wake = asyncio.Event()

    async def subscribe(self, key_id: UUID, *, core_key: bool = True) -> Subscription:
        async with self._started:
            if self._task is None or self._task.done():
                async with self.db.conn() as conn:
                    self.position = await events.last_id(conn)
                self.reads += 1
                self._task = asyncio.create_task(self._run())
        sub = Subscription(key_id=key_id, floor=self.position, core_key=core_key)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with self.db.conn() as listener:
                    await listener.add_listener(events.CHANNEL, self._notified)
                    try:
                        await self._follow()
                    finally:
                        with contextlib.suppress(Exception):
                            await listener.remove_listener(events.CHANNEL, self._notified)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event broadcaster: reading the outbox failed; retrying")
                await asyncio.sleep(1.0)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            self._wake.clear()
            async with self.db.conn() as conn:
                rows = await events.list_after(conn, self.position, 500)
                self.reads += 1
                if loop.time() - checked >= self.key_check_s:
                    checked = loop.time()
                    await self._check_keys(conn)
            if rows:
                self.position = rows[-1].id
                self._hand_out(rows)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    def _hand_out(self, rows: list[Event]) -> None:
        for sub in list(self.subscriptions):
            mine = [e for e in rows if e.id > sub.floor]
            if not mine:
                continue
            if sub.queued + len(mine) > QUEUE_LIMIT:
                sub.end("this stream fell too far behind; reconnect with Last-Event-ID")
                self.subscriptions.discard(sub)
                continue
            sub.queue.put_nowait(mine)
            sub.queued += len(mine)
            sub.wake.set()

    async def _check_keys(self, conn: Any) -> None:
        keys = list({s.key_id for s in self.subscriptions if s.core_key})
        if not keys:
            return
        live = await api_keys.live_among(conn, keys)
        for sub in list(self.subscriptions):
            if sub.core_key and sub.key_id not in live:
                sub.end("the API key of this stream was revoked")
                self.subscriptions.discard(sub)
