"""The usage service's process: ``python -m strato.services.usage.run`` (``strato up``
starts it when STRATO_SERVICES has ``usage``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from strato.schema import events
from strato.schema.db import Database
from strato.services.usage import ingest
from strato.services.usage.schema import store
from strato.services.usage.settings import UsageSettings
from strato.settings import Settings
from strato.workers.lifecycle import run_until_signal

log = logging.getLogger("strato.usage")


def period_start(at: datetime, period_s: int) -> datetime:
    return datetime.fromtimestamp(int(at.timestamp()) // period_s * period_s, UTC)


async def ingest_once(db: Database, settings: UsageSettings) -> int:
    """Apply the next batch of events and move the position past it, in one
    transaction (one ingester at a time: the state row is locked)."""
    async with db.tx() as conn:
        position, _ = await store.state(conn, lock=True)
        batch = await events.list_after(conn, position, settings.batch)
        for event in batch:
            if ingest.wanted(event):
                facts = await store.facts(conn, event)
                for change in ingest.changes(event, facts):
                    await store.apply(conn, change)
        if batch:
            await store.set_position(conn, batch[-1].id)
    return len(batch)


async def aggregate_next(db: Database, settings: UsageSettings, now: datetime) -> bool:
    """Aggregate the next period if it ended ``grace_s`` ago; whether one was."""
    async with db.tx() as conn:
        _, until = await store.state(conn, lock=True)
        if until is None:
            first = await store.first_start(conn)
            if first is None:
                return False
            until = period_start(first, settings.period_s)
        end = until + timedelta(seconds=settings.period_s)
        if end > now - timedelta(seconds=settings.grace_s):
            return False
        made = await store.aggregate(conn, until, end)
    if made:
        log.info("usage: %d records for %s", made, until.isoformat())
    return True


async def serve(db: Database, settings: UsageSettings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            if await ingest_once(db, settings):
                continue
            while not stop.is_set() and await aggregate_next(db, settings, datetime.now(UTC)):
                pass
        except Exception:
            log.exception("usage: a round failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.poll_s)


async def run(stop: asyncio.Event) -> None:
    core = Settings()
    db = await Database.connect(core.resolved_database_url(), max_size=4, wait_s=60)
    try:
        await serve(db, UsageSettings(_env_prefix="STRATO_USAGE_"), stop)
    finally:
        await db.close()


if __name__ == "__main__":
    run_until_signal(run)
