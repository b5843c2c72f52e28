"""Small helpers for tests: build a fabric through the API, wait for operations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from strato.schema.db import Database

# The lab on this machine: the tiny guest (scripts/tiny-guest), and the directory in which
# each real-host test gets its own (QEMU must reach what a guest reads).
TINY_GUEST = Path(os.environ.get("STRATO_TINY_GUEST", "/var/lib/strato/images/tiny-guest"))
LAB_ROOT = Path("/var/lib/strato/test")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def pool_body(
    cluster_id: str, driver: str = "simulator", url: str | None = None, capacity: int = 10 << 30
) -> dict[str, Any]:
    """The body that creates a storage pool in a cluster (a uniquely named one)."""
    body: dict[str, Any] = {
        "name": unique("pool"),
        "cluster_id": cluster_id,
        "driver": driver,
        "capacity_bytes": capacity,
    }
    if url is not None:
        body["url"] = url
    return body


async def make_fabric(api: httpx.AsyncClient, hypervisor: str = "simulator") -> dict[str, Any]:
    zone = await ok(await api.post("/zones", json={"name": unique("zone")}), 201)
    pod = await ok(await api.post("/pods", json={"zone_id": zone["id"], "name": "pod1"}), 201)
    cluster = await ok(
        await api.post(
            "/clusters", json={"pod_id": pod["id"], "name": "c1", "hypervisor": hypervisor}
        ),
        201,
    )
    return {"zone": zone, "pod": pod, "cluster": cluster}


async def wait_operation(
    api: httpx.AsyncClient, op_id: str, timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op: dict[str, Any] = await ok(await api.get(f"/operations/{op_id}"))
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        assert time.monotonic() < deadline, f"operation still {op['state']}: {op}"
        await asyncio.sleep(0.1)


async def table_counts(db: Database) -> dict[str, int]:
    """Row counts of every Strato table: compare before/after a rejected request."""
    async with db.conn() as conn:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        counts: dict[str, int] = {}
        for t in tables:
            counts[t] = await conn.fetchval(f'SELECT count(*) FROM "{t}"')
        counts["_max_version"] = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + coalesce(sum(version), 0) FROM ("
            " SELECT version FROM zones UNION ALL SELECT version FROM pods UNION ALL"
            " SELECT version FROM clusters UNION ALL SELECT version FROM hosts UNION ALL"
            " SELECT version FROM storage_pools UNION ALL SELECT version FROM service_offerings"
            " UNION ALL SELECT version FROM disk_offerings UNION ALL SELECT version FROM templates"
            ") v"
        )
        return counts


class ChildProcess:
    """A ``strato`` command as a child process (so a test can SIGKILL it), output
    appended to ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = [sys.executable, "-m", "strato.cli", *args]
        # Out of the services directory unless a test asks, as in-process platforms (its
        # heartbeats would change a table under the fuzz tests' no-change checks, and an
        # agent would announce itself to an orchestrator a test may have killed).
        self.env = {**os.environ, "STRATO_DIRECTORY_REGISTER": "false", **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.asynccontextmanager
async def directory_keeper(db: Database) -> AsyncIterator[None]:
    """The services directory's keeper (the relay leader runs it), quick rounds."""
    from strato.workers import directory

    stop = asyncio.Event()
    task = asyncio.create_task(directory.keep(db, stop, every_s=0.2))
    try:
        yield
    finally:
        stop.set()
        await task
