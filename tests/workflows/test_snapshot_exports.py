"""Snapshots exported to secondary storage, on simulated hosts and pools with real Temporal
+ PG: a backup (BackedUp, deleted with the snapshot, outliving the volume), a template
made from a snapshot and deployed, and the refusals that change nothing."""

from __future__ import annotations

from typing import Any

import httpx

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.test_snapshots import ready_volume, snap_op, take
from tests.workflows.test_templates import expunge, staged_files, store
from tests.workflows.test_volumes import running_vm, vol_op
from tests.workflows.vm_helpers import deploy, vm_zone


async def _snapshot(api: httpx.AsyncClient, platform: Platform) -> tuple[Any, ...]:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    vol = await ready_volume(api, fab, vm)
    snap = await take(api, vol["id"], "s1")
    return fab, vm, vol, snap


async def test_backup_then_delete(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab, _, vol, snap = await _snapshot(api, platform)
    before = await table_counts(db)
    refused = await api.post(f"/snapshots/{snap['id']}/backup")  # no image store yet
    assert refused.status_code == 409 and "no image store" in refused.json()["detail"]
    assert await table_counts(db) == before

    sec = await store(api, settings, fab["zone"]["id"])
    await snap_op(api, snap["id"], "backup")
    got = await ok(await api.get(f"/snapshots/{snap['id']}"))
    assert got["state"] == "BackedUp" and got["backup_store_id"] == sec["id"]
    root = sec["url"].removeprefix("file://")
    assert got["backup_path"] == f"{root}/snapshot/{snap['id']}"
    again = await api.post(f"/snapshots/{snap['id']}/backup")
    assert again.status_code == 409 and "backed up already" in again.json()["detail"]
    # A backed-up snapshot can still be reverted to (it is on the pool too).
    await snap_op(api, snap["id"], "revert")
    async with db.conn() as conn:
        moves = await conn.fetch(
            "SELECT old_state, new_state FROM events WHERE resource_id = $1 "
            "AND type = 'strato.snapshot.state_changed' ORDER BY seq",
            snap["id"],
        )
    assert [(m["old_state"], m["new_state"]) for m in moves][-2:] == [
        ("CreatedOnPrimary", "BackingUp"),
        ("BackingUp", "BackedUp"),
    ]

    await snap_op(api, snap["id"], "delete")
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "Destroyed"
    (pool,) = platform.fleet.pools.values()
    assert await pool.list_snapshots(f"strato-vol-{vol['id']}") == []
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_a_backup_outlives_its_volume(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab, _, vol, snap = await _snapshot(api, platform)
    await store(api, settings, fab["zone"]["id"])
    other = await take(api, vol["id"], "s2")  # not backed up: goes with the volume
    await snap_op(api, snap["id"], "backup")
    await vol_op(api, vol["id"], "destroy", {"expunge": True})
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "BackedUp"
    assert (await ok(await api.get(f"/snapshots/{other['id']}")))["state"] == "Destroyed"
    # A volume from it now comes from its backup (the pool's copy went with the volume).
    # The snapshot (and so its backup) cannot be deleted under the copy.
    body = {"name": unique("from-backup")}
    platform.fleet.faults.latency_ms = 500  # the pool's copy takes a while
    try:
        r = await ok(await api.post(f"/snapshots/{snap['id']}/volumes", json=body), 202)
        busy = await api.delete(f"/snapshots/{snap['id']}")
    finally:
        platform.fleet.faults.latency_ms = 0
    assert busy.status_code == 409 and "being copied" in busy.text, busy.text
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    made = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert (made["state"], made["size_bytes"]) == ("Ready", vol["size_bytes"])
    assert made["copied_from_snapshot"] == snap["id"]
    gone = await api.post(f"/snapshots/{other['id']}/volumes", json={"name": "x"})
    assert gone.status_code == 409, gone.text
    # Deleted later: its backup goes, the expunged volume stays expunged.
    await snap_op(api, snap["id"], "delete")
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "Destroyed"
    vol = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert vol["state"] == "Expunged" and vol["current_operation_id"] is None


async def test_a_template_from_a_snapshot_deploys(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab, _, _, snap = await _snapshot(api, platform)
    await store(api, settings, fab["zone"]["id"])
    body = {"name": unique("from-snap"), "os_type": "Linux"}
    r = await ok(await api.post(f"/snapshots/{snap['id']}/templates", json=body), 202)
    assert r["operation"]["kind"] == "template.create"
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
    assert (tpl["state"], tpl["stored"], tpl["format"]) == ("Ready", True, "qcow2")
    assert tpl["size_bytes"] == snap["size_bytes"]
    # The snapshot is as it was, and its volume unlocked.
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "CreatedOnPrimary"
    vm = await deploy(api, {**fab, "template": tpl})
    assert (await wait_operation(api, vm["operation"]["id"]))["state"] == "succeeded"
    await expunge(api, db, [vm])


async def test_a_failed_export_leaves_things_as_they_were(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab, _, _, snap = await _snapshot(api, platform)
    await store(api, settings, fab["zone"]["id"])
    platform.fleet.faults.fail_ops = frozenset({"export_snapshot"})
    platform.fleet.faults.fail_rate = 1.0
    try:
        await snap_op(api, snap["id"], "backup", want="failed")
        r = await ok(
            await api.post(f"/snapshots/{snap['id']}/templates", json={"name": unique("t")}),
            202,
        )
        op = await wait_operation(api, r["operation"]["id"])
        assert op["state"] == "failed" and "export failed" in op["error"]["message"], op
    finally:
        platform.fleet.faults.fail_rate = 0.0
        platform.fleet.faults.fail_ops = frozenset()
    got = await ok(await api.get(f"/snapshots/{snap['id']}"))
    assert got["state"] == "CreatedOnPrimary" and "backup failed" in got["last_error"]
    tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
    assert tpl["state"] == "Error" and "export" in tpl["last_error"]
    vol = await ok(await api.get(f"/volumes/{snap['volume_id']}"))
    assert vol["state"] == "Ready" and vol["current_operation_id"] is None
    assert staged_files(settings) == []
    await snap_op(api, snap["id"], "backup")  # works once the pool does
