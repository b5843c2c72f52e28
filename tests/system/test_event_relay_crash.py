"""The relay under kill -9: a webhook receiver (its own process) gets every event of a
running workload, signed, in order per resource, while the leading relay (of two), the
receiver and PostgreSQL are each killed -9 and started again mid-run. Duplicates are
allowed (the receiver drops them by id); a missing event is not."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strato.embedded import postgres
from strato.schema import events, repository, webhooks
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.schema.tables import ZONES
from strato.schema.webhooks import WEBHOOKS
from tests.conftest import free_port

pytestmark = pytest.mark.system

SECRET = "crash-test-secret-0123"


class Child:
    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv, self.log, self.env = argv, log, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[postgres.PgLayout, list[Any]]]:
    """A private PostgreSQL (this test kills it); the list holds its running process."""
    layout = postgres.PgLayout(tmp_path / "pg")
    postgres.init(layout)
    running = [postgres.start(layout)]
    postgres.wait_ready(layout, running[0])
    postgres.ensure_database(layout)
    try:
        yield layout, running
    finally:
        proc = running[0]
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _workload(db: Database, stop: asyncio.Event, made: list[int]) -> None:
    """Zones made and renamed, one after another; a write the database refused (it was
    down) is simply tried again."""
    i = 0
    while not stop.is_set():
        try:
            async with db.tx() as conn:
                zone = await repository.insert(conn, ZONES, {"name": f"crash-{i}"})
            async with db.tx() as conn:
                await repository.update(conn, ZONES, zone.id, {"name": f"crash-{i}-renamed"})
            i += 1
            made.append(i)
        except Exception:  # the database went away mid-write (any asyncpg error)
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.02)


async def _leader(db: Database) -> int | None:
    """The pid of the relay that leads (its name is <host>/<pid>)."""
    async with db.conn() as conn:
        name = await webhooks.leader(conn)
    return int(name.rsplit("/", 1)[1]) if name else None


def _received(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_nothing_is_lost_when_relay_receiver_and_database_are_killed(
    cluster: tuple[postgres.PgLayout, list[Any]], tmp_path: Path
) -> None:
    layout, running = cluster
    dsn = layout.dsn()
    await migrate_dsn(dsn)
    port = free_port()
    got_file = tmp_path / "received.jsonl"
    receiver = Child(
        [sys.executable, "-m", "tests.events.receiver_proc", str(port), SECRET, str(got_file)],
        tmp_path / "receiver.log",
    )
    env = {
        **os.environ,
        "STRATO_DATABASE_URL": dsn,
        "STRATO_DATA_DIR": str(tmp_path / "data"),
        "STRATO_WEBHOOK_RETRY_INITIAL_S": "0.1",
        "STRATO_WEBHOOK_RETRY_MAX_S": "0.5",
    }
    relays = [
        Child(
            [sys.executable, "-m", "strato.cli", "events", "relay"], tmp_path / f"relay{i}.log", env
        )
        for i in (1, 2)
    ]
    db = await Database.connect(dsn, max_size=4)
    async with db.tx() as conn:
        await repository.insert(
            conn,
            WEBHOOKS,
            {
                "id": uuid.uuid4(),
                "name": "crash",
                "url": f"http://127.0.0.1:{port}/hook",
                "secret": SECRET,
                "types": ["*"],
                "allow_internal": True,
                "max_attempts": 50,
            },
        )
    receiver.start()
    for r in relays:
        r.start()
    stop, made = asyncio.Event(), []
    work = asyncio.create_task(_workload(db, stop, made))
    try:
        await asyncio.sleep(3)
        # Two relays run; kill -9 the one that leads: the other takes over.
        first = None
        for _ in range(100):
            if (first := await _leader(db)) is not None:
                break
            await asyncio.sleep(0.1)
        led = next(r for r in relays if r.proc is not None and r.proc.pid == first)
        led.kill9()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if (now := await _leader(db)) is not None and now != first:
                break
        assert now is not None and now != first, now
        led.start()
        await asyncio.sleep(3)
        receiver.kill9()
        await asyncio.sleep(2)
        receiver.start()
        await asyncio.sleep(3)
        os.kill(running[0].pid, signal.SIGKILL)  # PostgreSQL
        running[0].wait()
        await asyncio.sleep(1.5)
        running[0] = postgres.start(layout)
        await asyncio.to_thread(postgres.wait_ready, layout, running[0], 60)
        await asyncio.sleep(4)
    finally:
        stop.set()
        await work
    assert len(made) > 50, made[-1:]

    # Every committed event, as the database has them.
    async with db.conn() as conn:
        while await conn.fetchval("SELECT count(*) FROM events WHERE id IS NULL"):
            await events.number(conn)
            await asyncio.sleep(0.1)
        expected = {e.id: e for e in await events.list_after(conn, 0, 1_000_000)}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if {g["id"] for g in _received(got_file)} >= set(expected):
            break
        await asyncio.sleep(0.5)
    for r in relays:
        r.stop()
    receiver.stop()
    await db.close()
    got = _received(got_file)
    ids = {g["id"] for g in got}
    missing = sorted(set(expected) - ids)
    assert not missing, (missing[:20], (tmp_path / "relay1.log").read_text()[-3000:])
    assert all(g["signed"] for g in got)
    # In order per resource: each resource's first deliveries come in id order.
    firsts: dict[str, list[int]] = {}
    for g in got:
        seen = firsts.setdefault(g["subject"] or "", [])
        if g["id"] not in seen:
            seen.append(g["id"])
    for subject, order in firsts.items():
        assert order == sorted(order), (subject, order)
    duplicates = len(got) - len(ids)
    print(f"{len(expected)} events, {len(got)} deliveries ({duplicates} duplicates)")
