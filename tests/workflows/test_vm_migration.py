"""MigrateVm on simulated hosts: live and cold moves (the domain runs on the target only,
capacity claimed there and released on the source), a move with nowhere to go refused
with the VM untouched, a cold move whose target fails put back on its source, and bad
input refused before anything starts."""

from __future__ import annotations

from typing import Any

import httpx

from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, wait_operation
from tests.workflows.test_host_ha import running_on
from tests.workflows.test_vm_placement import claims_match_live_vms
from tests.workflows.vm_helpers import deploy, running_vm, vm_zone


async def _migrate(api: httpx.AsyncClient, vm_id: str, body: dict[str, Any]) -> dict[str, Any]:
    accepted = await ok(await api.post(f"/vms/{vm_id}/migrate", json=body), 202)
    op: dict[str, Any] = await wait_operation(api, accepted["operation"]["id"])
    return op


async def _host_names(db: Database) -> dict[Any, str]:
    async with db.conn() as conn:
        return {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM hosts")}


async def _migrated(db: Database, vm_id: str) -> list[Any]:
    async with db.conn() as conn:
        return list(
            await conn.fetch(
                "SELECT payload FROM events WHERE type = 'strato.vm.migrated' "
                "AND resource_id = $1 ORDER BY seq",
                vm_id,
            )
        )


async def test_live_then_cold_migration_moves_the_vm_and_its_capacity(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    vm_id = await running_vm(api, fab)
    names = await _host_names(db)
    first = (await ok(await api.get(f"/vms/{vm_id}")))["host_id"]

    op = await _migrate(api, vm_id, {})
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    second = vm["host_id"]
    assert vm["state"] == "Running" and second != first
    assert running_on(platform, vm_id) == [names[_uuid(second)]]
    await claims_match_live_vms(db)

    op = await _migrate(api, vm_id, {"live": False, "host_id": first})
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["host_id"] == first and vm["state"] == "Running"
    assert running_on(platform, vm_id) == [names[_uuid(first)]]
    await claims_match_live_vms(db)
    moves = [e["payload"] for e in await _migrated(db, vm_id)]
    assert [(m["target"], m["live"]) for m in moves] == [
        (names[_uuid(second)], True),
        (names[_uuid(first)], False),
    ]


def _uuid(text: str) -> Any:
    from uuid import UUID

    return UUID(text)


async def test_a_migration_with_nowhere_to_go_leaves_the_vm_running_where_it_was(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2, memory_mb=4096)
    vm_id = await running_vm(api, fab)
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    async with db.tx() as conn:  # the other host has 2 GiB
        await conn.execute(
            "UPDATE hosts SET memory_total_mb = 2048 WHERE id <> $1 AND zone_id = $2",
            _uuid(vm["host_id"]),
            _uuid(fab["zone"]["id"]),
        )
    op = await _migrate(api, vm_id, {})
    assert op["state"] == "failed" and "does not fit" in op["error"]["message"], op
    after = await ok(await api.get(f"/vms/{vm_id}"))
    assert (after["state"], after["host_id"]) == ("Running", vm["host_id"])
    await claims_match_live_vms(db)
    assert await _migrated(db, vm_id) == []


async def test_a_cold_move_whose_target_fails_goes_back_to_its_source(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    vm_id = await running_vm(api, fab)
    names = await _host_names(db)
    source = (await ok(await api.get(f"/vms/{vm_id}")))["host_id"]
    target = next(h for h in names if str(h) != source)
    faults = platform.fleet.faults
    faults.fail_rate, faults.fail_targets = 1.0, frozenset({names[target]})
    faults.fail_ops = frozenset({"start_vm", "define_vm"})
    try:
        op = await _migrate(api, vm_id, {"live": False})
    finally:
        faults.fail_rate = 0.0
    assert op["state"] == "failed", op
    assert f"it runs on {names[_uuid(source)]}" in op["error"]["message"]
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert (vm["state"], vm["host_id"]) == ("Running", source)
    assert "migration to" in vm["last_error"]
    assert running_on(platform, vm_id) == [names[_uuid(source)]]
    await claims_match_live_vms(db)


async def test_bad_migrations_are_refused_and_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    vm_id = await running_vm(api, fab)
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    bad = await api.post(f"/vms/{vm_id}/migrate", json={"live": "sometimes"})
    assert bad.status_code == 422
    op = await _migrate(api, vm_id, {"host_id": vm["host_id"]})  # where it is
    assert op["state"] == "failed" and "runs on that host already" in op["error"]["message"]
    stop = await ok(await api.post(f"/vms/{vm_id}/stop", json={}), 202)
    await wait_operation(api, stop["operation"]["id"])
    refused = await api.post(f"/vms/{vm_id}/migrate", json={})
    assert refused.status_code == 409, refused.text
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Stopped"


async def test_doctor_releases_a_migration_claim_no_operation_carries(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Any, settings: Any
) -> None:
    from strato.doctor import examine

    fab = await vm_zone(api, hosts=2)
    vm_id = await running_vm(api, fab)
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    other = next(h["id"] for h in fab["hosts"] if h["id"] != vm["host_id"])
    async with db.tx() as conn:  # what a migration killed without its guard would leave
        await conn.execute(
            "INSERT INTO migration_claims VALUES ($1, $2, 1000, 1024)", _uuid(vm_id), _uuid(other)
        )
        await conn.execute(
            """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz + 1000,
                                memory_used_mb = memory_used_mb + 1024 WHERE id = $1""",
            _uuid(other),
        )
    queue = settings.orchestration_queue
    found = await examine(db, temporal_client, queue=queue)
    assert [f.check for f in found.findings] == ["stray-migration-claim"], found.findings
    repaired = await examine(db, temporal_client, queue=queue, repair=True)
    assert [f.repaired for f in repaired.findings] == [True]
    assert (await examine(db, temporal_client, queue=queue)).findings == []
    await claims_match_live_vms(db)


async def test_a_migration_keeps_strict_anti_affinity(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """Two VMs of a strict anti-affinity group on two of three hosts: one moved without a
    target goes to the third host; moved onto its peer's host, it is refused naming the
    group, and stays where it ran."""
    fab = await vm_zone(api, hosts=3)
    group = await ok(
        await api.post(
            "/affinity-groups",
            json={"name": "spread", "kind": "host-anti-affinity", "strict": True},
        ),
        201,
    )
    ids = []
    for _ in range(2):
        accepted = await deploy(api, fab, affinity_group_ids=[group["id"]])
        assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
        ids.append(accepted["resource"]["id"])
    a, b = [await ok(await api.get(f"/vms/{i}")) for i in ids]
    assert a["host_id"] != b["host_id"]

    op = await _migrate(api, a["id"], {})
    assert op["state"] == "succeeded", op
    moved = await ok(await api.get(f"/vms/{a['id']}"))
    assert moved["host_id"] not in (a["host_id"], b["host_id"])

    op = await _migrate(api, a["id"], {"host_id": b["host_id"]})
    assert op["state"] == "failed" and "anti-affinity group spread" in str(op["error"]), op
    still = await ok(await api.get(f"/vms/{a['id']}"))
    assert (still["state"], still["host_id"]) == ("Running", moved["host_id"])
    await claims_match_live_vms(db)


async def test_a_disabled_or_full_cluster_still_lets_its_vms_move_within_it(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """Disabling a cluster, or its disable thresholds, stop new VMs only: a VM already in
    it still moves to another of its hosts (as a host's maintenance needs)."""
    fab = await vm_zone(api, hosts=2)
    vm_id = await running_vm(api, fab)
    cluster = f"/clusters/{fab['cluster']['id']}"
    for change in ({"state": "Disabled"}, {"state": "Enabled", "memory_disable_threshold": 1e-6}):
        await ok(await api.patch(cluster, json=change))
        before = (await ok(await api.get(f"/vms/{vm_id}")))["host_id"]
        op = await _migrate(api, vm_id, {})
        assert op["state"] == "succeeded", (change, op)
        after = await ok(await api.get(f"/vms/{vm_id}"))
        assert after["state"] == "Running" and after["host_id"] != before, change
