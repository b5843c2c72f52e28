"""MigrateVolume on simulated hosts and pools with real Temporal + PG: a data volume and a
root volume (cloned from a template the template service keeps) move to another pool,
claims follow, the VM starts from there; a failed copy changes nothing; refusals."""

from __future__ import annotations

from typing import Any

import httpx

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, pool_body, table_counts, wait_operation
from tests.images_http import serving
from tests.workflows.test_snapshots import ready_volume, take
from tests.workflows.test_templates import qcow2, register, store
from tests.workflows.test_volumes import running_vm, vol_op
from tests.workflows.vm_helpers import act, deploy, vm_zone

GiB = 1 << 30


async def _second_pool(api: httpx.AsyncClient, fab: dict[str, Any], capacity: int) -> Any:
    body = pool_body(fab["cluster"]["id"], capacity=capacity)
    return await ok(await api.post("/storage-pools", json=body), 201)


async def _allocated(db: Database) -> dict[str, int]:
    async with db.conn() as conn:
        rows = await conn.fetch("SELECT name, allocated_bytes FROM storage_pools")
    return {r["name"]: r["allocated_bytes"] for r in rows}


async def test_a_data_volume_moves_with_its_claim(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    await take(api, vol["id"], "s1")
    p2 = await _second_pool(api, fab, 100 * GiB)
    before = await _allocated(db)
    source = next(p for p in platform.fleet.pools.values() if p.pool_name != p2["name"])

    # Refused, nothing changed: the pool it is on, a pool without room.
    full = await _second_pool(api, fab, GiB)
    counts = await table_counts(db)
    for pool_id, status, why in (
        (vol["pool_id"], 422, "already"),
        (full["id"], 409, "no room"),
    ):
        r = await api.post(f"/volumes/{vol['id']}/migrate", json={"pool_id": pool_id})
        assert r.status_code == status and why in r.json()["detail"], r.text
    assert await table_counts(db) == counts

    await vol_op(api, vol["id"], "migrate", {"pool_id": p2["id"]})
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["pool_id"] == p2["id"]
    assert got["path"] == f"sim://{p2['name']}/strato-vol-{vol['id']}"
    target = platform.fleet.pools[p2["name"]]
    name = f"strato-vol-{vol['id']}"
    assert name in {v.name for v in await target.list_volumes()}
    assert name not in {v.name for v in await source.list_volumes()}
    after = await _allocated(db)
    assert after[p2["name"]] == before[p2["name"]] + vol["size_bytes"]
    assert after[source.pool_name] == before[source.pool_name] - vol["size_bytes"]

    # It attaches to the VM from its new pool.
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_a_failed_copy_leaves_it_where_it_was(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    p2 = await _second_pool(api, fab, 100 * GiB)
    before = await _allocated(db)
    platform.fleet.faults.fail_ops = frozenset({"import_volume"})
    platform.fleet.faults.fail_rate = 1.0
    try:
        op = await vol_op(api, vol["id"], "migrate", {"pool_id": p2["id"]}, want="failed")
    finally:
        platform.fleet.faults.fail_rate = 0.0
        platform.fleet.faults.fail_ops = frozenset()
    assert "migration failed" in op["error"]["message"]
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["pool_id"] == vol["pool_id"]
    assert "migration failed" in got["last_error"]
    assert await _allocated(db) == before
    await vol_op(api, vol["id"], "migrate", {"pool_id": p2["id"]})  # works once it can


async def test_a_root_volume_moves_and_its_vm_starts_there(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings, tmp_path: Any
) -> None:
    fab = await vm_zone(api, hosts=1, network=False)
    await store(api, settings, fab["zone"]["id"])
    with serving(tmp_path / "www") as images:
        tpl, _ = await register(api, fab["zone"]["id"], images.url(qcow2(images, "r.qcow2")))
    accepted = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    vm_id = accepted["resource"]["id"]
    root = (await ok(await api.get(f"/vms/{vm_id}")))["volumes"][0]
    p2 = await _second_pool(api, fab, 100 * GiB)

    source = next(p for p in platform.fleet.pools.values() if p.pool_name != p2["name"])
    name = f"strato-vol-{root['id']}"

    # Live, the VM running: the target pool clones its own copy of the template, the
    # host's QEMU moves the disk there; the guest runs on, from the new file.
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    sim = platform.fleet.drivers[vm["host_name"]]
    await vol_op(api, root["id"], "migrate", {"pool_id": p2["id"]})
    got = await ok(await api.get(f"/volumes/{root['id']}"))
    assert got["pool_id"] == p2["id"] and got["path"] == f"sim://{p2['name']}/{name}"
    assert (await sim.vm_spec(f"strato-{vm_id}")).disks[0].path == got["path"]
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Running"
    target = platform.fleet.pools[p2["name"]]
    names = {v.name for v in await target.list_volumes()}
    assert {f"strato-tpl-{tpl['id']}", name} <= names
    assert name not in {v.name for v in await source.list_volumes()}
    async with db.conn() as conn:
        copies = await conn.fetchval(
            "SELECT copies FROM template_pool_cache WHERE pool_id = $1", p2["id"]
        )
    assert copies == 1  # the target pool got its own copy of the template

    # Stopped, back: the pool copies the file (rebased onto the source's template copy).
    await act(api, vm_id, "stop")
    await vol_op(api, root["id"], "migrate", {"pool_id": root["pool_id"]})
    assert name in {v.name for v in await source.list_volumes()}
    await take(api, root["id"], "keep")
    await act(api, vm_id, "start")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running" and vm["volumes"][0]["pool_id"] == root["pool_id"]

    # A running VM's volume that has snapshots does not move live (they would stay).
    counts = await table_counts(db)
    r = await api.post(f"/volumes/{root['id']}/migrate", json={"pool_id": p2["id"]})
    assert r.status_code == 409 and "would not carry" in r.json()["detail"], r.text
    assert await table_counts(db) == counts
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_a_migrating_volume_refuses_other_operations(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """While a volume is Migrating, a snapshot, an attach or another migration of it is
    refused (409, nothing changed); it is Ready on its new pool afterwards."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    p2 = await _second_pool(api, fab, 100 * GiB)
    platform.fleet.faults.latency_ms = 1500  # every simulated call: the copy takes a while
    try:
        r = await ok(
            await api.post(f"/volumes/{vol['id']}/migrate", json={"pool_id": p2["id"]}), 202
        )
        counts = await table_counts(db)
        for path, body in (
            (f"/volumes/{vol['id']}/snapshots", None),
            (f"/volumes/{vol['id']}/attach", {"vm_id": vm["id"]}),
            (f"/volumes/{vol['id']}/migrate", {"pool_id": vol["pool_id"]}),
        ):
            refused = await api.post(path, json=body)
            assert refused.status_code == 409, (path, refused.text)
        assert await table_counts(db) == counts
    finally:
        platform.fleet.faults.latency_ms = 0
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == "succeeded", op
    assert (await ok(await api.get(f"/volumes/{vol['id']}")))["pool_id"] == p2["id"]
