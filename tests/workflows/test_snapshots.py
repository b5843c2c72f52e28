"""Volume snapshots through the API, on simulated hosts and pools, with real Temporal + PG:
take, list, revert, delete; refusals with nothing changed; a failing pool leaves the
snapshot Error and the volume Ready; an expunged volume takes its snapshots with it."""

from __future__ import annotations

from typing import Any

import httpx

from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.test_volumes import create, problem, running_vm, vol_op, volume_events
from tests.workflows.vm_helpers import act, vm_zone


async def take(
    api: httpx.AsyncClient, vol_id: str, name: str | None = None, want: str = "succeeded"
) -> dict[str, Any]:
    body = {"name": name} if name else None
    r = await ok(await api.post(f"/volumes/{vol_id}/snapshots", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == want, op
    snap: dict[str, Any] = await ok(await api.get(f"/snapshots/{r['resource']['id']}"))
    return snap


async def snap_op(
    api: httpx.AsyncClient, snap_id: str, verb: str, want: str = "succeeded"
) -> dict[str, Any]:
    if verb == "delete":
        r = await api.delete(f"/snapshots/{snap_id}")
    else:
        r = await api.post(f"/snapshots/{snap_id}/{verb}")
    op = await wait_operation(api, (await ok(r, 202))["operation"]["id"])
    assert op["state"] == want, op
    return op


async def ready_volume(
    api: httpx.AsyncClient, fab: dict[str, Any], vm: dict[str, Any], **body: Any
) -> dict[str, Any]:
    """A data volume with a file on the pool, detached again."""
    vol = await create(api, fab, **body)
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    await vol_op(api, vol["id"], "detach")
    got: dict[str, Any] = await ok(await api.get(f"/volumes/{vol['id']}"))
    return got


async def test_take_revert_delete(api: httpx.AsyncClient, platform: Platform, db: Database) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    (pool,) = platform.fleet.pools.values()

    snap = await take(api, vol["id"], "before-upgrade")
    assert snap["state"] == "CreatedOnPrimary" and snap["name"] == "before-upgrade"
    assert snap["size_bytes"] == vol["size_bytes"]
    assert [s.name for s in await pool.list_snapshots(f"strato-vol-{vol['id']}")] == [
        snap["storage_name"]
    ]
    page = await ok(await api.get("/snapshots", params={"volume_id": vol["id"]}))
    assert [s["id"] for s in page["items"]] == [snap["id"]]
    auto = await take(api, vol["id"])  # named after the volume and the time
    assert auto["name"].startswith(vol["name"] + "-")

    await snap_op(api, snap["id"], "revert")
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["current_operation_id"] is None

    await snap_op(api, snap["id"], "delete")
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "Destroyed"
    assert [s.name for s in await pool.list_snapshots(f"strato-vol-{vol['id']}")] == [
        auto["storage_name"]
    ]

    # A snapshot of a volume attached to a stopped VM holds the VM too, and lets it go.
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    await act(api, vm["id"], "stop")
    await take(api, vol["id"])
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["current_operation_id"] is None
    await act(api, vm["id"], "start")

    types = await volume_events(db, vol["id"])
    assert "strato.volume.reverted" in types
    async with db.conn() as conn:
        moves = [
            (r["old_state"], r["new_state"])
            for r in await conn.fetch(
                """SELECT old_state, new_state FROM events
                   WHERE resource_id = $1 AND type = 'strato.snapshot.state_changed'
                   ORDER BY seq""",
                snap["id"],
            )
        ]
    assert moves == [
        ("Allocated", "Creating"),
        ("Creating", "CreatedOnPrimary"),
        ("CreatedOnPrimary", "Destroying"),
        ("Destroying", "Destroyed"),
    ]


async def test_refusals_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    attached = await create(api, fab)
    await vol_op(api, attached["id"], "attach", {"vm_id": vm["id"]})
    fresh = await create(api, fab)
    detached = await ready_volume(api, fab, vm)
    snap = await take(api, detached["id"])
    await vol_op(api, detached["id"], "attach", {"vm_id": vm["id"]})
    before = await table_counts(db)

    await problem(await api.post(f"/volumes/{attached['id']}/snapshots"), 409, "running VM")
    await problem(await api.post(f"/snapshots/{snap['id']}/revert"), 409, "running VM")
    await problem(await api.delete(f"/snapshots/{snap['id']}"), 409, "running VM")
    await problem(await api.post(f"/volumes/{fresh['id']}/snapshots"), 409, "Allocated")
    await problem(
        await api.post(f"/volumes/{detached['id']}/snapshots", json={"name": ""}), 422, "name"
    )
    missing = "00000000-0000-4000-8000-000000000000"
    await problem(await api.post(f"/snapshots/{missing}/revert"), 404, "does not exist")
    assert await table_counts(db) == before
    for v in (attached, detached):
        got = await ok(await api.get(f"/volumes/{v['id']}"))
        assert got["current_operation_id"] is None
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["current_operation_id"] is None


async def test_a_failing_pool_leaves_the_snapshot_error_and_the_volume_ready(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    platform.fleet.faults.fail_ops = frozenset({"create_snapshot"})
    platform.fleet.faults.fail_rate = 1.0
    snap = await take(api, vol["id"], want="failed")
    assert snap["state"] == "Error" and "create_snapshot" in snap["last_error"]
    got = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert got["state"] == "Ready" and got["current_operation_id"] is None
    assert "snapshot failed" in got["last_error"]
    platform.fleet.faults.fail_rate = 0.0
    await snap_op(api, snap["id"], "delete")  # an Error snapshot can be deleted
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "Destroyed"


async def test_an_expunged_volume_takes_its_snapshots(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    snaps = [await take(api, vol["id"]) for _ in range(2)]
    await vol_op(api, vol["id"], "destroy", {"expunge": True})
    for s in snaps:
        assert (await ok(await api.get(f"/snapshots/{s['id']}")))["state"] == "Destroyed"
    (pool,) = platform.fleet.pools.values()
    assert f"strato-vol-{vol['id']}" not in pool.snapshots


async def test_a_volume_from_a_snapshot(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    snap = await take(api, vol["id"])
    (pool,) = platform.fleet.pools.values()
    r = await ok(await api.post(f"/snapshots/{snap['id']}/volumes", json={"name": "copy1"}), 202)
    assert r["operation"]["kind"] == "volume.create" and r["resource"]["state"] == "Creating"
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == "succeeded", op
    new = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert new["state"] == "Ready" and new["pool_id"] == vol["pool_id"] and new["path"]
    assert new["size_bytes"] == vol["size_bytes"] and new["vm_id"] is None
    assert new["name"] == "copy1" and new["current_operation_id"] is None
    assert new["path"] in {v.path for v in await pool.list_volumes()}
    src = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert src["state"] == "Ready" and src["current_operation_id"] is None
    await vol_op(api, new["id"], "attach", {"vm_id": vm["id"]})  # usable like any other

    # A failing pool: the new volume is Error (no file, no claim), the source unchanged.
    platform.fleet.faults.fail_ops = frozenset({"copy_snapshot"})
    platform.fleet.faults.fail_rate = 1.0
    r = await ok(await api.post(f"/snapshots/{snap['id']}/volumes", json={"name": "copy2"}), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "failed"
    bad = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert bad["state"] == "Error" and bad["pool_id"] is None and "copy failed" in bad["last_error"]
    src = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert src["state"] == "Ready" and src["current_operation_id"] is None
    async with db.conn() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM pool_claims WHERE volume_id = $1", bad["id"])
            == 0
        )
    # Refused: a snapshot that is gone, a name that is not one.
    await snap_op(api, snap["id"], "delete")
    await problem(
        await api.post(f"/snapshots/{snap['id']}/volumes", json={"name": "c3"}), 409, "Destroyed"
    )
    await problem(await api.post(f"/snapshots/{snap['id']}/volumes", json={"name": ""}), 422, "")


async def test_an_expunged_vm_takes_its_root_volumes_snapshots(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    await act(api, vm["id"], "stop")
    snap = await take(api, vm["volumes"][0]["id"])
    await act(api, vm["id"], "destroy", {"expunge": True})
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "Destroyed"
