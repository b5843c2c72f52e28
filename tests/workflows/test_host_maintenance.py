"""Maintenance mode on simulated hosts: ten VMs moved off a host (its progress seen on
the operation), the host in Maintenance and skipped by planners, cancel bringing it
back; a VM that cannot move blocks with its name; refusals change nothing; a kill -9 of
the orchestrator worker in the middle, and the maintenance still finishes."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, unique, wait_operation
from tests.workflows.test_vm_crash import agents_only, worker_process
from tests.workflows.test_vm_placement import claims_match_live_vms
from tests.workflows.vm_helpers import deploy, running_vm, vm_zone

__all__ = ["agents_only"]


async def _add_host(api: httpx.AsyncClient, fab: dict[str, Any], prefix: str) -> dict[str, Any]:
    r = await ok(
        await api.post("/hosts", json={"cluster_id": fab["cluster"]["id"], "name": unique(prefix)}),
        202,
    )
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    host: dict[str, Any] = r["resource"]
    return host


async def _vms_on(db: Database, host_id: str) -> list[str]:
    async with db.conn() as conn:
        rows = await conn.fetch("SELECT name FROM vms WHERE host_id = $1", uuid.UUID(host_id))
    return sorted(r["name"] for r in rows)


async def _deploy_many(api: httpx.AsyncClient, fab: dict[str, Any], n: int) -> list[str]:
    accepted = [await deploy(api, fab) for _ in range(n)]
    for a in accepted:
        assert (await wait_operation(api, a["operation"]["id"]))["state"] == "succeeded"
    return [a["resource"]["id"] for a in accepted]


async def _watch(api: httpx.AsyncClient, op_id: str, seen: set[str]) -> dict[str, Any]:
    while True:
        op: dict[str, Any] = await ok(await api.get(f"/operations/{op_id}"))
        if op["step"] == "move VMs" and op["detail"]:
            seen.add(op["detail"])
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        await asyncio.sleep(0.05)


async def test_ten_vms_move_off_and_the_host_enters_maintenance(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    a = fab["hosts"][0]
    vm_ids = await _deploy_many(api, fab, 10)
    others = [await _add_host(api, fab, "b"), await _add_host(api, fab, "c")]
    platform.fleet.faults.latency_ms = 50  # each move takes a little while: progress shows

    accepted = await ok(await api.post(f"/hosts/{a['id']}/maintenance"), 202)
    seen: set[str] = set()
    op = await _watch(api, accepted["operation"]["id"], seen)
    platform.fleet.faults.latency_ms = 0
    assert op["state"] == "succeeded", op
    assert op["result"]["moved"] and len(op["result"]["moved"]) == 10
    assert any("of 10 moved" in s for s in seen), seen
    host = await ok(await api.get(f"/hosts/{a['id']}"))
    assert host["resource_state"] == "Maintenance"
    assert await _vms_on(db, a["id"]) == []
    assert platform.fleet.drivers[a["name"]].vms == {}
    for vm_id in vm_ids:
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert vm["state"] == "Running" and vm["host_id"] in {o["id"] for o in others}
    await claims_match_live_vms(db)

    # Planners skip it; cancel brings it back.
    new = await running_vm(api, fab)
    assert (await ok(await api.get(f"/vms/{new}")))["host_id"] != a["id"]
    back = await ok(await api.post(f"/hosts/{a['id']}/cancel-maintenance"))
    assert back["resource_state"] == "Enabled"
    async with db.conn() as conn:
        moves = [
            (r["old_state"], r["new_state"])
            for r in await conn.fetch(
                """SELECT old_state, new_state FROM events
                   WHERE type = 'strato.host.resource_state_changed' AND resource_id = $1
                   ORDER BY seq""",
                uuid.UUID(a["id"]),
            )
        ]
    assert moves == [
        ("Enabled", "PrepareForMaintenance"),
        ("PrepareForMaintenance", "Maintenance"),
        ("Maintenance", "Enabled"),
    ]


async def test_a_vm_that_cannot_move_blocks_with_its_name(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1, memory_mb=4096)
    a = fab["hosts"][0]
    [vm_id] = await _deploy_many(api, fab, 1)
    b = await _add_host(api, fab, "b")
    async with db.tx() as conn:
        await conn.execute(
            "UPDATE hosts SET memory_total_mb = 2048 WHERE id = $1", uuid.UUID(b["id"])
        )
    name = (await ok(await api.get(f"/vms/{vm_id}")))["name"]
    accepted = await ok(await api.post(f"/hosts/{a['id']}/maintenance"), 202)
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "failed" and name in op["error"]["message"], op
    host = await ok(await api.get(f"/hosts/{a['id']}"))
    assert host["resource_state"] == "ErrorInMaintenance" and name in host["last_error"]
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert (vm["state"], vm["host_id"]) == ("Running", a["id"])
    back = await ok(await api.post(f"/hosts/{a['id']}/cancel-maintenance"))
    assert back["resource_state"] == "Enabled"


async def test_refused_maintenance_requests_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    a, b = fab["hosts"]
    vm_id = await running_vm(api, fab)
    host_id = (await ok(await api.get(f"/vms/{vm_id}")))["host_id"]
    r = await api.post(f"/hosts/{a['id'] if host_id != a['id'] else b['id']}/cancel-maintenance")
    assert r.status_code == 409 and "not in maintenance" in r.json()["detail"]
    async with db.tx() as conn:  # an operation holds the VM
        await conn.execute(
            """UPDATE vms SET current_operation_id = gen_random_uuid(),
                              current_operation_kind = 'vm.stop' WHERE id = $1""",
            uuid.UUID(vm_id),
        )
    name = (await ok(await api.get(f"/vms/{vm_id}")))["name"]
    r = await api.post(f"/hosts/{host_id}/maintenance")
    assert r.status_code == 409 and name in r.json()["detail"], r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await ok(await api.get(f"/hosts/{host_id}")))["resource_state"] == "Enabled"
    missing = await api.post(f"/hosts/{uuid.uuid4()}/maintenance")
    assert missing.status_code == 404


async def test_maintenance_finishes_after_an_orchestrator_kill9(
    api: httpx.AsyncClient,
    agents_only: Platform,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    worker = worker_process(settings, tmp_path / "worker.log")
    worker.start()
    try:
        fab = await vm_zone(api, hosts=1)
        a = fab["hosts"][0]
        await _deploy_many(api, fab, 4)
        await _add_host(api, fab, "b")
        agents_only.fleet.faults.latency_ms = 400
        accepted = await ok(await api.post(f"/hosts/{a['id']}/maintenance"), 202)
        op_id = accepted["operation"]["id"]
        for _ in range(400):
            op = await ok(await api.get(f"/operations/{op_id}"))
            if op["step"] == "move VMs":
                break
            await asyncio.sleep(0.05)
        worker.kill9()
        await asyncio.sleep(1.0)
        worker.start()
        op = await wait_operation(api, op_id, timeout=120)
        agents_only.fleet.faults.latency_ms = 0
        assert op["state"] == "succeeded", op
        assert (await ok(await api.get(f"/hosts/{a['id']}")))["resource_state"] == "Maintenance"
        assert await _vms_on(db, a["id"]) == []
    finally:
        worker.stop()
    await claims_match_live_vms(db)
