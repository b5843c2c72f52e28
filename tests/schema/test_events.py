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


async def test_two_writers_that_lock_a_row_in_opposite_orders_both_commit(db: Database) -> None:
    """A heartbeat writes a host event, then locks a VM row; a VM finish holds that row and
    then writes its event. With a lock held from the first event to commit (the old
    outbox), each waited for the other and PostgreSQL aborted one as a deadlock."""
    async with db.tx() as conn:
        row = await conn.fetchval(
            """INSERT INTO zones (id, name) VALUES ($1, $2) RETURNING id""",
            uuid.uuid4(),
            f"z-{uuid.uuid4().hex[:8]}",
        )
    holds_row, wrote_event = asyncio.Event(), asyncio.Event()

    async def finish() -> None:  # holds the row, then writes its event
        async with db.tx() as conn:
            await conn.execute("SELECT 1 FROM zones WHERE id = $1 FOR UPDATE", row)
            holds_row.set()
            await wrote_event.wait()
            await asyncio.sleep(0.2)  # the heartbeat is now waiting for the row
            await events.append(conn, "strato.test.x", "test", row)

    async def heartbeat() -> None:  # writes an event, then wants the row
        async with db.tx() as conn:
            await holds_row.wait()
            await events.append(conn, "strato.test", "test", None)
            wrote_event.set()
            await conn.execute("SELECT 1 FROM zones WHERE id = $1 FOR UPDATE", row)

    await asyncio.wait_for(asyncio.gather(finish(), heartbeat()), timeout=30)
    async with db.conn() as conn:
        written = [e.type for e in await events.list_after(conn, 0)]
    assert sorted(written) == ["strato.test", "strato.test.x"]


async def test_an_open_writer_holds_back_nobody_and_is_not_skipped(db: Database) -> None:
    """A writer that has appended but not committed blocks no other writer and no reader;
    its event, committed last, gets an id above every id a reader has seen meanwhile."""
    slow = await db.pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        await events.append(slow, "strato.test", "test", None)
        for _ in range(3):  # later writers commit without waiting for the open one
            async with db.tx() as conn:
                await asyncio.wait_for(events.append(conn, "strato.test.x", "test", None), 5)
        async with db.conn() as conn:
            first = await events.list_after(conn, 0)
        assert [e.type for e in first] == ["strato.test.x"] * 3
        await tx.commit()
    finally:
        await db.pool.release(slow)
    async with db.conn() as conn:
        rest = await events.list_after(conn, first[-1].id)  # the reader resumes
    assert [e.type for e in rest] == ["strato.test"]
    assert rest[0].id > first[-1].id
