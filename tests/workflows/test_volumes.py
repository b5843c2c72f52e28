"""Data volumes through the API, on simulated hosts and pools, with real Temporal + PG:
create, attach (hot-plug and at next start), detach, resize, destroy, recover, expunge,
and every refusal with nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.doctor import examine
from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import make_fabric, ok, pool_body, table_counts, unique, wait_operation
from tests.workflows.vm_helpers import act, deploy, vm_zone

GiB = 1 << 30


async def create(api: httpx.AsyncClient, fab: dict[str, Any], **body: Any) -> dict[str, Any]:
    payload = {"name": unique("vol"), "zone_id": fab["zone"]["id"], "size_gb": 2, **body}
    vol: dict[str, Any] = await ok(await api.post("/volumes", json=payload), 201)
    return vol


async def vol_op(
    api: httpx.AsyncClient, vol_id: str, verb: str, body: Any = None, want: str = "succeeded"
) -> dict[str, Any]:
    r = await ok(await api.post(f"/volumes/{vol_id}/{verb}", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == want, op
    return op


async def running_vm(api: httpx.AsyncClient, fab: dict[str, Any]) -> dict[str, Any]:
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    vm: dict[str, Any] = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    return vm


async def pool_row(db: Database) -> tuple[int, int]:
    """(allocated bytes, sum of claims) of the one pool."""
    async with db.conn() as conn:
        row = await conn.fetchrow(
            """SELECT p.allocated_bytes, coalesce(sum(c.bytes), 0) AS claims
               FROM storage_pools p LEFT JOIN pool_claims c ON c.pool_id = p.id
               GROUP BY p.id"""
        )
    return row[0], row[1]


async def volume_events(db: Database, vol_id: str) -> list[str]:
    async with db.conn() as conn:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE resource_id = $1 ORDER BY seq", vol_id
        )
    return [r["type"] for r in rows]


async def test_data_volume_lifecycle(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    sim = platform.fleet.drivers[vm["host_name"]]
    domain = f"strato-{vm['id']}"
    vol = await create(api, fab)
    assert vol["state"] == "Allocated" and vol["pool_id"] is None and vol["size_bytes"] == 2 * GiB
    allocated_before = (await pool_row(db))[0]

    # Hot-plug into the running VM: created on the VM's pool first (lazy allocation).
    op = await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    assert op["result"]["device"] == "vdb"
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["vm_id"] == vm["id"] and got["device_id"] == 1
    assert got["pool_id"] == vm["volumes"][0]["pool_id"] and got["path"]
    assert [d.device for d in sim.vms[domain].spec.disks] == ["vda", "vdb"]
    assert await pool_row(db) == (allocated_before + 2 * GiB,) * 2
    (pool,) = platform.fleet.pools.values()
    assert got["path"] in {v.path for v in await pool.list_volumes()}
    detail = await ok(await api.get(f"/vms/{vm['id']}"))
    assert {v["kind"] for v in detail["volumes"]} == {"ROOT", "DATADISK"}

    # Grow it online.
    await vol_op(api, vol["id"], "resize", {"size_gb": 3})
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["size_bytes"] == 3 * GiB and got["state"] == "Ready"
    assert await pool_row(db) == (allocated_before + 3 * GiB,) * 2

    # A stop and a start keep it: the boot defines the data disk with the root.
    await act(api, vm["id"], "stop")
    await act(api, vm["id"], "start")
    assert [d.device for d in sim.vms[domain].spec.disks] == ["vda", "vdb"]

    # Detach: unplugged, still Ready with its file.
    await vol_op(api, vol["id"], "detach")
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["vm_id"] is None and got["device_id"] is None and got["state"] == "Ready"
    assert [d.device for d in sim.vms[domain].spec.disks] == ["vda"]

    # Destroy (delayed), recover, destroy and expunge at once.
    await vol_op(api, vol["id"], "destroy")
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Destroy" and got["expunge_at"] is not None
    await vol_op(api, vol["id"], "recover")
    assert (await ok(await api.get(f"/volumes/{vol['id']}")))["state"] == "Ready"
    await vol_op(api, vol["id"], "destroy", {"expunge": True})
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Expunged" and got["pool_id"] is None
    assert f"strato-vol-{vol['id']}" not in {v.name for v in await pool.list_volumes()}
    assert await pool_row(db) == (allocated_before,) * 2
    assert await volume_events(db, vol["id"]) == [
        "strato.volume.created",
        "strato.volume.state_changed",  # Allocated -> Ready (created on the pool)
        "strato.volume.attached",
        "strato.volume.state_changed",  # Ready -> Resizing
        "strato.volume.state_changed",  # Resizing -> Ready
        "strato.volume.resized",
        "strato.volume.detached",
        "strato.volume.state_changed",  # Ready -> Destroy
        "strato.volume.state_changed",  # Destroy -> Ready (recovered)
        "strato.volume.state_changed",  # Ready -> Destroy
        "strato.volume.state_changed",  # Destroy -> Expunging
        "strato.volume.state_changed",  # Expunging -> Expunged
    ]


async def test_attach_to_a_stopped_vm_applies_at_its_next_start(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    await act(api, vm["id"], "stop")
    a, b = await create(api, fab), await create(api, fab, size_gb=1)
    await vol_op(api, a["id"], "attach", {"vm_id": vm["id"], "device_id": 3})
    op = await vol_op(api, b["id"], "attach", {"vm_id": vm["id"]})
    assert op["result"]["device"] == "vdb"
    await act(api, vm["id"], "start")
    vm = await ok(await api.get(f"/vms/{vm['id']}"))
    sim = platform.fleet.drivers[vm["host_name"]]
    spec = sim.vms[f"strato-{vm['id']}"].spec
    assert [d.device for d in spec.disks] == ["vda", "vdb", "vdd"]
    assert {d.path for d in spec.disks[1:]} == {
        (await ok(await api.get(f"/volumes/{v['id']}")))["path"] for v in (a, b)
    }


async def test_expunging_a_vm_leaves_its_data_volumes_detached(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await create(api, fab)
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    await act(api, vm["id"], "destroy", {"expunge": True})
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["vm_id"] is None and got["path"]
    vm2 = await running_vm(api, fab)
    await vol_op(api, vol["id"], "attach", {"vm_id": vm2["id"]})
    assert (await ok(await api.get(f"/volumes/{vol['id']}")))["vm_id"] == vm2["id"]


async def problem(r: httpx.Response, status: int, text: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert text in r.json()["detail"], r.json()


async def test_refusals_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1, pool_bytes=20 * GiB)
    vm = await running_vm(api, fab)
    vol = await create(api, fab)
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    other = await make_fabric(api)
    stranger = await ok(
        await api.post(
            "/volumes", json={"name": unique("v"), "zone_id": other["zone"]["id"], "size_gb": 1}
        ),
        201,
    )
    free = await create(api, fab)
    before = await table_counts(db)

    await problem(
        await api.post("/volumes", json={"name": "x", "zone_id": fab["zone"]["id"]}), 422, "size_gb"
    )
    await problem(await api.post(f"/volumes/{vol['id']}/destroy"), 409, "detach it first")
    await problem(await api.delete(f"/volumes/{vol['id']}"), 409, "detach it first")
    await problem(
        await api.post(f"/volumes/{vol['id']}/resize", json={"size_gb": 1}), 422, "shrink_ok"
    )
    await problem(
        await api.post(f"/volumes/{vol['id']}/resize", json={"size_gb": 1, "shrink_ok": True}),
        409,
        "can only grow",
    )
    await problem(
        await api.post(f"/volumes/{vol['id']}/resize", json={"size_gb": 500}), 409, "no room"
    )
    await problem(
        await api.post(f"/volumes/{stranger['id']}/attach", json={"vm_id": vm["id"]}),
        422,
        "zone",
    )
    await problem(
        await api.post(f"/volumes/{vol['id']}/attach", json={"vm_id": vm["id"]}),
        409,
        "attached",
    )
    await problem(
        await api.post(f"/volumes/{free['id']}/attach", json={"vm_id": vm["id"], "device_id": 1}),
        409,
        "vdb",
    )
    root = vm["volumes"][0]["id"]
    await problem(await api.post(f"/volumes/{root}/destroy"), 422, "root volume")
    await problem(await api.post(f"/volumes/{root}/detach"), 422, "root volume")
    await problem(await api.post(f"/volumes/{free['id']}/detach"), 409, "not attached")
    await problem(await api.post(f"/volumes/{free['id']}/recover"), 409, "Destroy")
    assert await table_counts(db) == before
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["current_operation_id"] is None and got["size_bytes"] == 2 * GiB


@pytest.mark.parametrize("verb", ["attach", "detach"])
async def test_a_vm_busy_with_another_operation_refuses(
    api: httpx.AsyncClient, platform: Platform, db: Database, verb: str
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await create(api, fab)
    if verb == "detach":
        await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    async with db.tx() as conn:  # another operation holds the VM
        await conn.execute(
            "UPDATE vms SET current_operation_id = gen_random_uuid(), "
            "current_operation_kind = 'stop' WHERE id = $1",
            vm["id"],
        )
    body = {"vm_id": vm["id"]} if verb == "attach" else None
    await problem(await api.post(f"/volumes/{vol['id']}/{verb}", json=body), 409, "busy")
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["current_operation_id"] is None


async def test_attach_fails_cleanly_when_the_host_refuses(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await create(api, fab)
    platform.fleet.faults.fail_ops = frozenset({"attach_disk"})
    platform.fleet.faults.fail_rate = 1.0
    op = await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]}, want="failed")
    assert "attach" in op["error"]["message"], op
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    # Created on the pool, not attached; both locks free, the reason recorded.
    assert got["state"] == "Ready" and got["vm_id"] is None and got["last_error"]
    assert got["current_operation_id"] is None
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["current_operation_id"] is None


async def test_a_failed_start_keeps_the_vms_disks(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """A start whose host fails must not undo the root volume the VM already had (it did:
    the attempt's compensation deleted it, and the next start made a blank one)."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    root = vm["volumes"][0]
    await act(api, vm["id"], "stop")
    (pool,) = platform.fleet.pools.values()
    platform.fleet.faults.fail_ops = frozenset({"start_vm"})
    platform.fleet.faults.fail_rate = 1.0
    await act(api, vm["id"], "start", expect="failed")
    got = await ok(await api.get(f"/volumes/{root['id']}"))
    assert got["state"] == "Ready" and got["path"] == root["path"]
    assert root["name"] in {v.name for v in await pool.list_volumes()}
    async with db.conn() as conn:
        assert (
            await conn.fetchval("SELECT bytes FROM pool_claims WHERE volume_id = $1", root["id"])
            == root["size_bytes"]
        )
    platform.fleet.faults.fail_rate = 0.0
    await act(api, vm["id"], "start")


async def test_a_vm_starts_only_where_its_volumes_are(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """Two clusters, each with its own pool: a stopped VM is started in the cluster whose
    pool holds its disks, and not at all (saying why) when that cluster has no host."""
    fab = await vm_zone(api, hosts=1)
    c2 = await ok(
        await api.post(
            "/clusters", json={"pod_id": fab["pod"]["id"], "name": "c2", "hypervisor": "simulator"}
        ),
        201,
    )
    await ok(await api.post("/storage-pools", json=pool_body(c2["id"], capacity=1 << 40)), 201)
    r = await ok(await api.post("/hosts", json={"cluster_id": c2["id"], "name": unique("h")}), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    vm = await running_vm(api, fab)
    cluster_of = {h["name"]: h["cluster_id"] for h in (await ok(await api.get("/hosts")))["items"]}
    home = cluster_of[vm["host_name"]]
    await act(api, vm["id"], "stop")
    for _ in range(3):
        await act(api, vm["id"], "start")
        got = await ok(await api.get(f"/vms/{vm['id']}"))
        assert cluster_of[got["host_name"]] == home
        await act(api, vm["id"], "stop")
    home_host = next(n for n, c in cluster_of.items() if c == home)
    host_id = next(
        h["id"] for h in (await ok(await api.get("/hosts")))["items"] if h["name"] == home_host
    )
    await ok(await api.patch(f"/hosts/{host_id}", json={"resource_state": "Disabled"}))
    op = await act(api, vm["id"], "start", expect="failed")
    assert "holds the VM's volumes" in op["error"]["message"], op
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["volumes"][0]["state"] == "Ready"


async def test_doctor_is_clean_after_volume_work_and_repairs_a_stale_volume_lock(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Client
) -> None:
    """Attached, detached, destroyed-pending and expunged volumes leave the doctor clean
    (a Destroy volume keeps its file and claim until its expunge); a volume lock whose
    operation ended is found, released, and the volume can be operated again."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    attached, pending, gone = await create(api, fab), await create(api, fab), await create(api, fab)
    await vol_op(api, attached["id"], "attach", {"vm_id": vm["id"]})
    for v in (pending, gone):
        await vol_op(api, v["id"], "attach", {"vm_id": vm["id"]})
        await vol_op(api, v["id"], "detach")
    await vol_op(api, pending["id"], "destroy")
    await vol_op(api, gone["id"], "destroy", {"expunge": True})
    queue = platform.settings.orchestration_queue
    report = await examine(db, temporal_client, queue=queue)
    assert report.findings == [], report.findings

    async with db.tx() as conn:  # a lock held by the attach that ended long ago
        await conn.execute(
            """UPDATE volumes SET current_operation_id = (
                   SELECT id FROM operations WHERE resource_id = $1 AND kind = 'volume.attach'),
                   current_operation_kind = 'attach' WHERE id = $1""",
            attached["id"],
        )
    report = await examine(db, temporal_client, queue=queue)
    assert [(f.check, f.resource) for f in report.findings] == [
        ("stuck-volume", f"volume {attached['name']}")
    ], report.findings
    assert "ended (completed)" in report.findings[0].detail
    repaired = await examine(db, temporal_client, queue=queue, repair=True)
    assert all(f.repaired for f in repaired.findings)
    assert (await examine(db, temporal_client, queue=queue)).findings == []
    await vol_op(api, attached["id"], "detach")


async def test_a_volume_file_is_named_by_its_id_never_by_its_label(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    """Two volumes with the same name, and one named like a root volume's file, each get
    a file of their own; expunging one leaves the others' files."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    root = vm["volumes"][0]
    twins = [await create(api, fab, name="data") for _ in range(2)]
    impostor = await create(api, fab, name=root["name"])
    for v in (*twins, impostor):
        await vol_op(api, v["id"], "attach", {"vm_id": vm["id"]})
    got = [await ok(await api.get(f"/volumes/{v['id']}")) for v in (*twins, impostor)]
    paths = {g["path"] for g in got} | {root["path"]}
    assert len(paths) == 4, paths
    (pool,) = platform.fleet.pools.values()
    await vol_op(api, twins[0]["id"], "detach")
    await vol_op(api, twins[0]["id"], "destroy", {"expunge": True})
    left = {v.path for v in await pool.list_volumes()}
    assert got[0]["path"] not in left and {got[1]["path"], got[2]["path"], root["path"]} <= left
