"""Placement under real concurrency: exact capacity, strict anti-affinity, the avoid set."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


async def claims_match_live_vms(db: Database) -> None:
    """Host counters = sum of claims = sum of the sizes of VMs that hold a host."""
    async with db.conn() as conn:
        rows = await conn.fetch(
            """SELECT h.name, h.cpu_used_mhz, h.memory_used_mb,
                      (SELECT coalesce(sum(cpu_mhz), 0) FROM host_claims c WHERE c.host_id = h.id)
                          AS claim_cpu,
                      (SELECT coalesce(sum(v.cpu_count * v.cpu_speed_mhz), 0) FROM vms v
                       WHERE v.host_id = h.id AND v.state IN ('Running', 'Starting', 'Stopping'))
                          AS live_cpu,
                      (SELECT coalesce(sum(v.memory_mb), 0) FROM vms v
                       WHERE v.host_id = h.id AND v.state IN ('Running', 'Starting', 'Stopping'))
                          AS live_mem
               FROM hosts h"""
        )
    for r in rows:
        assert r["cpu_used_mhz"] == r["claim_cpu"] == r["live_cpu"], dict(r)
        assert r["memory_used_mb"] == r["live_mem"], dict(r)


async def deploy_all(
    api: httpx.AsyncClient, fab: dict[str, Any], n: int, **extra: Any
) -> list[dict[str, Any]]:
    accepted = await asyncio.gather(*(deploy(api, fab, **extra) for _ in range(n)))
    return list(
        await asyncio.gather(
            *(wait_operation(api, a["operation"]["id"], timeout=240) for a in accepted)
        )
    )


async def test_100_deploys_onto_room_for_exactly_60(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    # 3 hosts x 32 GiB (simulator default 131072 MiB is overridden per host below)
    fab = await vm_zone(api, hosts=3, memory_mb=1024)
    async with db.tx() as conn:  # exactly 20 VMs of 1 GiB per host
        await conn.execute("UPDATE hosts SET memory_total_mb = 20 * 1024")
    ops = await deploy_all(api, fab, 100)
    states = [o["state"] for o in ops]
    assert states.count("succeeded") == 60, states
    failed = [o for o in ops if o["state"] == "failed"]
    assert len(failed) == 40
    for o in failed:
        assert o["error"]["type"] == "insufficient-capacity", o["error"]
        assert "memory" in o["error"]["message"] and "1024 MiB" in o["error"]["message"]
    vms = (await ok(await api.get("/vms", params={"limit": 500})))["items"]
    assert sorted({v["state"] for v in vms}) == ["Error", "Running"]
    assert sum(v["state"] == "Running" for v in vms) == 60
    assert all(v["current_operation_id"] is None for v in vms)
    await claims_match_live_vms(db)
    async with db.conn() as conn:  # compensation freed the failed VMs' IPs and storage
        assert (
            await conn.fetchval("SELECT count(*) FROM ip_addresses WHERE state = 'Allocated'") == 60
        )
        assert await conn.fetchval("SELECT count(*) FROM pool_claims") == 60


async def test_strict_anti_affinity_under_parallel_deploys(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=20)
    group = await ok(
        await api.post(
            "/affinity-groups",
            json={"name": "spread", "kind": "host-anti-affinity", "strict": True},
        ),
        201,
    )
    ops = await deploy_all(api, fab, 20, affinity_group_ids=[group["id"]])
    assert [o["state"] for o in ops] == ["succeeded"] * 20, [o.get("error") for o in ops]
    vms = (await ok(await api.get("/vms", params={"limit": 500})))["items"]
    assert len({v["host_id"] for v in vms}) == 20
    extra = await deploy(api, fab, affinity_group_ids=[group["id"]])
    op = await wait_operation(api, extra["operation"]["id"])
    assert op["state"] == "failed"
    assert op["error"]["type"] == "insufficient-capacity"
    assert "anti-affinity group spread" in op["error"]["message"]
    await claims_match_live_vms(db)


async def test_strict_host_affinity_keeps_members_together(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=4)
    group = await ok(
        await api.post("/affinity-groups", json={"name": "together", "kind": "host-affinity"}), 201
    )
    ops = await deploy_all(api, fab, 5, affinity_group_ids=[group["id"]])
    assert [o["state"] for o in ops] == ["succeeded"] * 5
    vms = (await ok(await api.get("/vms")))["items"]
    assert len({v["host_id"] for v in vms}) == 1


async def test_failed_starts_retry_on_the_next_host_and_release_claims(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=3)
    names = sorted(h["name"] for h in fab["hosts"])
    platform.fleet.faults.fail_targets = frozenset(names[:2])
    platform.fleet.faults.fail_ops = frozenset({"start_vm"})
    platform.fleet.faults.fail_rate = 1.0
    async with db.tx() as conn:  # first-fit tries hosts by name: the two bad ones first
        await conn.execute("UPDATE zones SET planner = 'first_fit'")
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    assert vm["host_name"] == names[2]
    assert [a.split(":")[0] for a in op["result"]["attempts"]] == names[:2]
    async with db.conn() as conn:
        used = {
            r["name"]: r["memory_used_mb"]
            for r in await conn.fetch("SELECT name, memory_used_mb FROM hosts")
        }
    assert used == {names[0]: 0, names[1]: 0, names[2]: 1024}
    for bad in names[:2]:  # nothing left defined on the failed hosts
        assert platform.fleet.drivers[bad].vms == {}


async def test_all_hosts_failing_ends_in_error_with_every_reason(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    platform.fleet.faults.fail_ops = frozenset({"start_vm"})
    platform.fleet.faults.fail_rate = 1.0
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "failed"
    for h in fab["hosts"]:
        assert h["name"] in op["error"]["message"]
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    assert vm["state"] == "Error" and vm["nics"] == []
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM host_claims") == 0
        assert await conn.fetchval("SELECT count(*) FROM pool_claims") == 0
        assert await conn.fetchval("SELECT sum(memory_used_mb) FROM hosts") == 0


async def test_invalid_deploys_are_4xx_and_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    import uuid

    fab = await vm_zone(api, hosts=1)
    good = {
        "name": "v",
        "zone_id": fab["zone"]["id"],
        "service_offering_id": fab["offering"]["id"],
        "template_id": fab["template"]["id"],
    }
    bad = [
        {**good, "zone_id": str(uuid.uuid4())},
        {**good, "service_offering_id": str(uuid.uuid4())},
        {**good, "template_id": str(uuid.uuid4())},
        {**good, "root_disk_size_gb": 0},
        {**good, "root_disk_size_gb": -5},
        {**good, "name": ""},
        {**good, "affinity_group_ids": [str(uuid.uuid4())]},
        {k: v for k, v in good.items() if k != "template_id"},
    ]
    before = await table_counts(db)
    for body in bad:
        r = await api.post("/vms", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await api.post(f"/vms/{uuid.uuid4()}/start")).status_code == 404
    r = await api.post(f"/vms/{uuid.uuid4()}/scale", json={"service_offering_id": "x"})
    assert r.status_code == 422
    assert await table_counts(db) == before
    inactive = await ok(
        await api.patch(f"/service-offerings/{fab['offering']['id']}", json={"state": "Inactive"})
    )
    before = await table_counts(db)
    r = await api.post("/vms", json={**good, "service_offering_id": inactive["id"]})
    assert r.status_code == 422 and "Inactive" in r.json()["detail"]
    assert await table_counts(db) == before


async def test_planners_skip_disabled_zones_pods_clusters_and_hosts(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    host = fab["hosts"][0]
    for path, body in (
        (f"/zones/{fab['zone']['id']}", {"state": "Disabled"}),
        (f"/pods/{fab['pod']['id']}", {"state": "Disabled"}),
        (f"/clusters/{fab['cluster']['id']}", {"state": "Disabled"}),
        (f"/hosts/{host['id']}", {"resource_state": "Disabled"}),
    ):
        await ok(await api.patch(path, json=body))
        op = await wait_operation(api, (await deploy(api, fab))["operation"]["id"])
        assert op["state"] == "failed", (path, op)
        enabled = {k: "Enabled" for k in body}
        await ok(await api.patch(path, json=enabled))
    op = await wait_operation(api, (await deploy(api, fab))["operation"]["id"])
    assert op["state"] == "succeeded", op


async def test_a_cluster_past_its_disable_threshold_takes_no_new_vm(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """CloudStack's capacity disable thresholds, per cluster: once more than the share
    set is allocated, a deploy fails naming the cluster and its share; a threshold out
    of (0, 1] is refused and changes nothing; raised again, the cluster takes VMs."""
    fab = await vm_zone(api, hosts=2)
    cluster = f"/clusters/{fab['cluster']['id']}"
    first = await wait_operation(api, (await deploy(api, fab))["operation"]["id"])
    assert first["state"] == "succeeded", first
    for bad in (0, 1.5, "lots"):
        r = await api.patch(cluster, json={"memory_disable_threshold": bad})
        assert r.status_code == 422 and "memory_disable_threshold" in r.text, r.text
    assert (await ok(await api.get(cluster)))["memory_disable_threshold"] == 1.0

    # Any allocation at all is past this share.
    await ok(await api.patch(cluster, json={"memory_disable_threshold": 0.000001}))
    op = await wait_operation(api, (await deploy(api, fab))["operation"]["id"])
    assert op["state"] == "failed", op
    assert f"cluster {fab['cluster']['name']}" in str(op["error"]), op["error"]
    assert "memory is allocated" in str(op["error"]), op["error"]

    await ok(await api.patch(cluster, json={"memory_disable_threshold": 1}))
    op = await wait_operation(api, (await deploy(api, fab))["operation"]["id"])
    assert op["state"] == "succeeded", op
