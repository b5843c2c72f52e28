"""The outbox: ids must become visible in id order, so resuming readers never skip."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from strato.domain import events as catalog
from strato.schema import events
from strato.schema.db import Database


class _Written(catalog.Payload):
    w: int
    i: int


# The outbox accepts only catalogued types: these tests write types of their own.
catalog.register(
    catalog.EventType("strato.test", "test", catalog.NoPayload, "a test event"),
    catalog.EventType("strato.test.x", "test", catalog.NoPayload, "a test event"),
    catalog.EventType("strato.test.w", "test", _Written, "a test writer's event"),
)


async def test_append_refuses_outside_a_transaction(db: Database) -> None:
    async with db.conn() as conn:
        with pytest.raises(RuntimeError, match="inside the changing transaction"):
            await events.append(conn, "strato.test", "test", None)


async def test_rolled_back_change_leaves_no_event(db: Database) -> None:
    with pytest.raises(ZeroDivisionError):
        async with db.tx() as conn:
            await events.append(conn, "strato.test.x", "test", uuid.uuid4())
            raise ZeroDivisionError
    async with db.conn() as conn:
        assert await events.list_after(conn, 0) == []


async def test_resuming_reader_sees_every_event_once_in_order(db: Database) -> None:
    """Writers with random in-transaction delays race a reader that resumes by id."""
    writers, per_writer = 12, 15
    rng = random.Random(7)
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(per_writer):
            async with db.tx() as conn:
                await conn.execute("SELECT pg_sleep($1)", rng.random() * 0.004)
                await events.append(conn, "strato.test.w", "test", None, payload={"w": w, "i": i})
                await conn.execute("SELECT pg_sleep($1)", rng.random() * 0.004)

    seen: list[int] = []

    async def reader() -> None:
        after = 0
        while True:
            finished = done.is_set()
            async with db.conn() as conn:
                batch = await events.list_after(conn, after, 7)
            for ev in batch:
                seen.append(ev.id)
                after = ev.id
            if finished and not batch:
                return
            await asyncio.sleep(0)

    read = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await read
    async with db.conn() as conn:
        all_ids = [e.id for e in await events.list_after(conn, 0, 10_000)]
    assert len(all_ids) == writers * per_writer
    assert seen == all_ids  # nothing skipped, nothing twice, in order


async def test_cloudevent_envelope(db: Database) -> None:
    rid = uuid.uuid4()
    async with db.tx() as conn:
        await events.append(
            conn, "strato.host.state_changed", "host", rid, old_state="Connecting", new_state="Up"
        )
    async with db.conn() as conn:
        (ev,) = await events.list_after(conn, 0)
    ce = ev.cloudevent()
    assert ce["specversion"] == "1.0"
    assert ce["type"] == "strato.host.state_changed"
    assert ce["subject"] == f"host/{rid}"
    assert ce["data"]["old_state"] == "Connecting" and ce["data"]["new_state"] == "Up"
    assert ce["id"] == str(ev.id) and ce["source"] == "/strato"
