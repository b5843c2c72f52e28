"""The event relay (``strato events relay``): the outbox to the world, at least once, in
order per resource, from a stored position.

Several relays may run; one leads. Leadership is a PostgreSQL session advisory lock held
on the leader's own connection: if the leader dies (or its connection does), the lock
is released and a waiting relay takes it within a second. Every move of a sink's
position is a compare-and-set from the position the leader read, so a relay that lost
its lock without knowing it cannot move a position another has moved: it stops.

The leader wakes when a writer commits events (``NOTIFY strato_events``, from a trigger
on the outbox; a poll every second covers a missed one), numbers and reads them after
the ``webhooks`` position, queues one delivery per matching subscription and moves the
position, all in one transaction; the deliverers (:mod:`strato.events.webhooks`) post
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from strato.domain.webhooks import wants
from strato.events import targets
from strato.events.webhooks import Deliverer, Retry
from strato.schema import events, webhooks
from strato.schema.db import Database
from strato.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "strato_events"
WEBHOOKS = "webhooks"
BATCH = 500


class LostLeadership(RuntimeError):
    """Another relay moved a position this one read: it leads now."""


@contextlib.asynccontextmanager
async def leadership(
    dsn: str, stop: asyncio.Event, poll_s: float = 0.5
) -> AsyncIterator[Any | None]:
    """The leader's connection, holding the lock, once this relay leads (None if
    ``stop`` came first). Closing the connection gives the lead away."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            if await webhooks.try_lead(conn):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
        yield None if stop.is_set() else conn
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 5)


class Relay:
    def __init__(self, db: Database, settings: Settings, *, name: str = "relay") -> None:
        self.db = db
        self.settings = settings
        self.name = name
        self.leading = False
        self.published = 0  # events taken by this relay while it led

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when it can, until ``stop``; any trouble (the database restarting, the
        lead lost) is logged and the relay waits for the lead again."""
        dsn = self.settings.resolved_database_url()
        while not stop.is_set():
            try:
                async with leadership(dsn, stop) as conn:
                    if conn is not None:
                        await self._lead(conn, stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, LostLeadership):
                log.warning("relay %s: lost the lead or the database; waiting", self.name)
            except Exception:
                log.exception("relay %s failed; starting again", self.name)
            finally:
                self.leading = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def _lead(self, conn: Any, stop: asyncio.Event) -> None:
        log.info("relay %s leads", self.name)
        self.leading = True
        wake = asyncio.Event()
        await conn.add_listener(CHANNEL, lambda *_: wake.set())
        s = self.settings
        async with httpx.AsyncClient(
            timeout=s.webhook_timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        ) as http:
            deliverer = Deliverer(
                self.db,
                http,
                retry=Retry(s.webhook_retry_initial_s, s.webhook_retry_max_s),
                networks=targets.parse_networks(s.webhook_internal_networks),
            )
            try:
                while not stop.is_set():
                    if conn.is_closed():
                        raise LostLeadership("the leader's connection closed")
                    wake.clear()
                    taken = await self._fan_out(deliverer)
                    if taken:
                        deliverer.kick()
                        continue
                    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
                    await asyncio.wait(waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    for w in waits:
                        w.cancel()
            finally:
                await deliverer.close()

    async def _fan_out(self, deliverer: Deliverer) -> int:
        """Queue the next batch of events for the subscriptions; how many were taken."""
        async with self.db.tx() as conn:
            at = await webhooks.position(conn, WEBHOOKS)
            batch = await events.list_after(conn, at, BATCH)
            # Read after the events: a subscription committed before an event it sees
            # is seen too, so it gets every event committed after it.
            subs = await webhooks.subscriptions(conn)
            deliverer.sync(subs)
            if not batch:
                return 0
            pairs = [(hook.id, e) for e in batch for hook, _ in subs if wants(hook, e)]
            await webhooks.queue(conn, pairs)
            if not await webhooks.advance(conn, WEBHOOKS, at, batch[-1].id):
                raise LostLeadership(f"the {WEBHOOKS} position moved under relay {self.name}")
        self.published += len(batch)
        return len(batch)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    db = await Database.connect(settings.resolved_database_url(), max_size=8, wait_s=60)
    try:
        await Relay(db, settings).run(stop)
    finally:
        await db.close()
