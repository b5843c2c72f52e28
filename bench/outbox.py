"""The outbox's cost to writers: the old global lock (held from the event insert to
commit) against readers numbering events (strato/schema/events.py), side by side in one
run on one PostgreSQL (fsync on, as in production).

Each of W writers runs transactions shaped like a VM state change: update its own row,
append an event, ``--work-ms`` more of work in the transaction (further statements, a
round trip to the orchestrator), commit. A reader follows the outbox by id, as an event
stream does, and checks it saw every event once, in order. Printed: transactions/s per
mechanism, p50/p99 transaction time, and the ratio.

Run: python -m bench.outbox [--writers 20] [--seconds 5] [--work-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.scale_data import pct, scratch_postgres
from strato.domain import events as catalog
from strato.schema import events
from strato.schema.db import Database

catalog.register(catalog.EventType("strato.bench.tick", "bench", catalog.NoPayload, "bench"))

_OLD_LOCK = 0x5374726174_7F  # the old mechanism's lock, under a key of the bench's own


async def _append_locked(conn: Any) -> None:
    """The old outbox: a global lock from the insert to commit, ids from a sequence."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _OLD_LOCK)
    await conn.execute(
        """INSERT INTO events (id, type, resource_type) VALUES
           (nextval('bench_event_ids'), 'strato.bench.tick', 'bench')"""
    )


async def _append_numbered(conn: Any) -> None:
    await events.append(conn, "strato.bench.tick", "bench", None)


async def _read_locked(conn: Any, after: int) -> list[int]:
    rows = await conn.fetch("SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT 500", after)
    return [r["id"] for r in rows]


async def _read_numbered(conn: Any, after: int) -> list[int]:
    return [e.id for e in await events.list_after(conn, after, 500)]


async def run(
    db: Database, mode: str, writers: int, seconds: float, work_ms: float
) -> dict[str, Any]:
    append = _append_locked if mode == "lock" else _append_numbered
    read = _read_locked if mode == "lock" else _read_numbered
    async with db.tx() as conn:
        await conn.execute("TRUNCATE events")
        await conn.execute("DELETE FROM bench_rows")
        await conn.executemany(
            "INSERT INTO bench_rows VALUES ($1, 0)", [(w,) for w in range(writers)]
        )
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    committed = 0

    async def writer(w: int) -> None:
        nonlocal committed
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            async with db.tx() as conn:
                await conn.execute("UPDATE bench_rows SET n = n + 1 WHERE w = $1", w)
                await append(conn)
                await asyncio.sleep(work_ms / 1000)
            latencies.append(time.perf_counter() - t0)
            committed += 1

    seen: list[int] = []
    writing = True

    async def reader() -> None:
        after = 0
        while True:
            done = not writing
            async with db.conn() as conn:
                batch = await read(conn, after)
            seen.extend(batch)
            if batch:
                after = batch[-1]
            elif done:
                return
            else:
                await asyncio.sleep(0.01)

    follow = asyncio.create_task(reader())
    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - t0
    writing = False
    await follow
    async with db.conn() as conn:
        if mode != "lock":
            await events.number(conn)
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
    return {
        "tx_s": committed / elapsed,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "in_order": seen == ids and len(ids) == committed,
    }


async def main(writers: int, seconds: float, work_ms: float, rounds: int) -> None:
    async with scratch_postgres() as (dsn, _):
        db = await Database.connect(dsn, max_size=writers + 5)
        async with db.tx() as conn:
            await conn.execute("CREATE SEQUENCE bench_event_ids")
            await conn.execute("CREATE TABLE bench_rows (w int PRIMARY KEY, n int)")
        print(f"{writers} writers, {seconds:.0f} s each, {work_ms} ms of work after the append")
        results: dict[str, list[dict[str, Any]]] = {"lock": [], "numbered": []}
        for _ in range(rounds):  # alternate, so drift in the machine's load hits both
            for mode in results:
                results[mode].append(await run(db, mode, writers, seconds, work_ms))
        await db.close()
    for mode, rs in results.items():
        best = max(rs, key=lambda r: r["tx_s"])
        print(
            f"{mode:>9}: {best['tx_s']:7.0f} tx/s  p50 {best['p50_ms']:6.1f} ms  "
            f"p99 {best['p99_ms']:6.1f} ms  every event once, in order: "
            f"{all(r['in_order'] for r in rs)}"
        )
    ratio = max(r["tx_s"] for r in results["numbered"]) / max(r["tx_s"] for r in results["lock"])
    print(f"numbered / lock throughput: {ratio:.2f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--work-ms", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    asyncio.run(main(a.writers, a.seconds, a.work_ms, a.rounds))
