"""kill -9 of the orchestrator worker in the middle of a deploy, then a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


def worker_process(settings: Settings, log: Path) -> ChildProcess:
    """``strato worker orchestrator`` on the test's database and queue."""
    return ChildProcess(
        ["worker", "orchestrator"],
        {
            "STRATO_DATABASE_URL": str(settings.database_url),
            "STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address),
            "STRATO_ORCHESTRATION_QUEUE": settings.orchestration_queue,
        },
        log,
    )


@pytest.fixture
async def agents_only(
    settings: Settings, db: Database, temporal_client: Client
) -> AsyncIterator[Platform]:
    p = Platform(settings, db, temporal_client)
    await p.start(orchestrator=False)
    try:
        yield p
    finally:
        await p.stop()


async def wait_step(api: httpx.AsyncClient, op_id: str, steps: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = await ok(await api.get(f"/operations/{op_id}"))
        if op["step"] in steps:
            return str(op["step"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"operation never reached {steps}")


@pytest.mark.parametrize("kill_at", ["prepare root volume", "define and start"])
async def test_deploy_survives_orchestrator_kill9(
    api: httpx.AsyncClient,
    agents_only: Platform,
    db: Database,
    settings: Settings,
    tmp_path: Path,
    kill_at: str,
) -> None:
    worker = worker_process(settings, tmp_path / "worker.log")
    worker.start()
    try:
        fab = await vm_zone(api, hosts=2)
        agents_only.fleet.faults.latency_ms = 1500  # each host step takes 1.5 s
        accepted = await deploy(api, fab)
        op_id = accepted["operation"]["id"]
        await wait_step(api, op_id, {kill_at}, timeout=60)
        worker.kill9()
        await asyncio.sleep(1.0)
        worker.start()
        op = await wait_operation(api, op_id, timeout=120)
        assert op["state"] == "succeeded", op
    finally:
        worker.stop()
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    assert vm["state"] == "Running" and vm["current_operation_id"] is None
    sim = agents_only.fleet.drivers[vm["host_name"]]
    assert sim.vms[f"strato-{vm['id']}"].boots == 1  # the start ran exactly once
    defined = [h for h, d in agents_only.fleet.drivers.items() if d.vms]
    assert defined == [vm["host_name"]]  # no domain left anywhere else
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM host_claims") == 1
        assert await conn.fetchval("SELECT count(*) FROM pool_claims") == 1
        assert (
            await conn.fetchval("SELECT count(*) FROM ip_addresses WHERE state = 'Allocated'") == 1
        )
        assert await conn.fetchval("SELECT sum(memory_used_mb) FROM hosts") == vm["memory_mb"]
    pools = agents_only.fleet.pools
    assert sum(len(p.volumes) for p in pools.values()) == 1
