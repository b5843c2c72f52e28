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
import os
import socket
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import asyncpg

from strato.domain.models import Event
from strato.domain.webhooks import wants
from strato.events import targets
from strato.events.amqp import AmqpSink
from strato.events.signals import WorkflowSignals
from strato.events.webhooks import Deliverer, Retry
from strato.schema import events, webhooks
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.settings import Settings
from strato.workers import directory

log = logging.getLogger(__name__)

WEBHOOKS = "webhooks"
BATCH = 500


class Sink(Protocol):
    """Where the relay publishes besides webhooks (AMQP; another broker would add one).
    ``publish`` returns only once the sink holds every event of the batch (else it
    raises, and the same batch comes again); events may come twice, never out of order."""

    name: str  # its position's key in relay_positions

    async def ready(self) -> bool:
        """Whether it has somewhere to publish (its position starts when it first has)."""
        ...

    async def publish(self, batch: list[Event]) -> None: ...

    async def close(self) -> None: ...


class LostLeadership(RuntimeError):
    """Another relay moved a position this one read: it leads now."""


@contextlib.asynccontextmanager
async def leadership(
    dsn: str, stop: asyncio.Event, name: str, poll_s: float = 0.5
) -> AsyncIterator[Any | None]:
    """The leader's connection, holding the lock, once this relay leads (None if
    ``stop`` came first). Closing the connection gives the lead away. The connection
    is named ``strato-relay <name>``: ``pg_locks`` joined with ``pg_stat_activity``
    says which relay leads."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": f"strato-relay {name}"})
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
        self.published = 0  # events taken by this relay while it led (webhooks)
        self.sent: dict[str, int] = {}  # by sink, events it confirmed while this relay led

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when it can, until ``stop``; any trouble (the database restarting, the
        lead lost) is logged and the relay waits for the lead again."""
        dsn = self.settings.resolved_database_url()
        while not stop.is_set():
            try:
                async with leadership(dsn, stop, self.name) as conn:
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
        wakes: list[asyncio.Event] = []

        def notified(*_: object) -> None:
            for w in wakes:
                w.set()

        await conn.add_listener(events.CHANNEL, notified)
        loops = [self._webhooks(conn, self._waker(wakes), stop)]
        loops += [self._pump(sink, self._waker(wakes), stop) for sink in self._sinks()]
        loops.append(directory.keep(self.db, stop))  # the directory's one keeper
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            # Any loop that fails ends the lead (the others are stopped with it).
            for done in asyncio.as_completed(tasks):
                await done
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _waker(wakes: list[asyncio.Event]) -> asyncio.Event:
        wake = asyncio.Event()
        wakes.append(wake)
        return wake

    def _sinks(self) -> list[Sink]:
        s = self.settings
        sinks: list[Sink] = [WorkflowSignals(self.db, s)]
        if s.amqp_url:
            sinks.append(AmqpSink(s.amqp_url, s.amqp_exchange))
        elif s.amqp_kind:
            sinks.append(AmqpSink("", s.amqp_exchange, locate=self._broker))
        return sinks

    async def _broker(self) -> str | None:
        """The URL of a healthy broker of kind ``amqp_kind`` in the directory, with the
        configured credentials (the directory's endpoints hold none)."""
        async with self.db.conn() as conn:
            found = await registry.endpoints(conn, self.settings.amqp_kind)
        for e in found:
            if e.protocol == "amqp" and e.url.startswith(("amqp://", "amqps://")):
                return with_credentials(e.url, self.settings.amqp_credentials)
        return None

    @staticmethod
    async def _idle(wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Until woken, stopped, or a second passed."""
        waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    async def _webhooks(self, conn: Any, wake: asyncio.Event, stop: asyncio.Event) -> None:
        s = self.settings
        # aiohttp, not httpx: a tenth of the CPU per POST (measured 0.13 against 3.3 ms),
        # which is what limits a relay's deliveries.
        async with aiohttp.ClientSession(
            # Per connect and per read, not in total: waiting for a pooled connection
            # (other subscriptions' slow endpoints) is not this delivery's time.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.webhook_timeout_s, sock_read=s.webhook_timeout_s
            ),
            # At most 64 connections to one endpoint: a burst of 200 connects overflowed
            # a small receiver's accept queue (its requests then waited whole seconds).
            connector=aiohttp.TCPConnector(limit=512, limit_per_host=64),
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
                    if await self._fan_out(deliverer):
                        deliverer.kick()
                        continue
                    await self._idle(wake, stop)
            finally:
                await deliverer.close()

    async def _pump(self, sink: Sink, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Publish to ``sink`` from its stored position, a batch at a time; a batch the
        sink refused is tried again (from the same position) after a pause. The move
        past a published batch is committed with the read of the next one (one
        transaction a round)."""
        at = 0  # the position as this relay last read or moved it
        done: int | None = None  # the last event of a batch published, position not moved
        try:
            while not stop.is_set():
                wake.clear()
                if not await sink.ready():  # a broker to be discovered, not there yet
                    await self._idle(wake, stop)
                    continue
                async with self.db.tx() as conn:
                    if done is None:
                        # A sink configured later starts from then, not from the beginning.
                        at = await webhooks.position(conn, sink.name, new_from_now=True)
                    elif await webhooks.advance(conn, sink.name, at, done):
                        at, done = done, None
                    else:
                        raise LostLeadership(f"the {sink.name} position moved under {self.name}")
                    batch = await events.list_after(conn, at, BATCH)
                if not batch:
                    await self._idle(wake, stop)
                    continue
                try:
                    await sink.publish(batch)
                except Exception as err:
                    log.warning(
                        "relay %s: sink %s refused a batch (%s); retrying",
                        self.name,
                        sink.name,
                        err,
                    )
                    await self._idle(asyncio.Event(), stop)
                    continue
                done = batch[-1].id
                self.sent[sink.name] = self.sent.get(sink.name, 0) + len(batch)
        finally:
            if done is not None:  # what was published, recorded on the way out
                with contextlib.suppress(Exception):
                    async with self.db.tx() as conn:
                        await webhooks.advance(conn, sink.name, at, done)
            await sink.close()

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


def with_credentials(url: str, credentials: str) -> str:
    """``url`` with ``user:password`` as its userinfo (none given: as it is)."""
    if not credentials:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{credentials}@{rest.split('@', 1)[-1]}"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    db = await Database.connect(settings.resolved_database_url(), max_size=8, wait_s=60)
    me = directory.instance(settings, "relay")
    leaving = asyncio.Event()  # set however this ends
    presence = (
        asyncio.create_task(directory.present(db, me, leaving))
        if settings.directory_register
        else None
    )
    try:
        name = f"{socket.gethostname()[:40]}/{os.getpid()}"  # fits application_name
        await Relay(db, settings, name=name).run(stop)
    finally:
        leaving.set()
        if presence is not None:
            await presence
        await db.close()
