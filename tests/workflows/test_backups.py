"""VM backups on simulated hosts and pools with real Temporal + PG: a stopped VM backed up
(every volume, from a snapshot taken and deleted on its pool), retention, a volume
restored from a backup, a backup deleted; the refusals that change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.test_snapshots import ready_volume, snap_op, take
from tests.workflows.test_templates import doctor_clean, store, store_files
from tests.workflows.test_volumes import running_vm, vol_op
from tests.workflows.vm_helpers import act, vm_zone


async def backup(api: httpx.AsyncClient, vm_id: str, want: str = "succeeded", **body: Any) -> Any:
    r = await ok(await api.post(f"/vms/{vm_id}/backups", json=body or None), 202)
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == want, op
    return await ok(await api.get(f"/backups/{r['resource']['id']}"))


async def test_backup_retention_restore_delete(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    data = await ready_volume(api, fab, vm)
    await vol_op(api, data["id"], "attach", {"vm_id": vm["id"]})
    offering = await ok(
        await api.post("/backup-offerings", json={"name": unique("daily"), "retention": 2}), 201
    )

    # Refused, nothing changed: a running VM, no offering, no image store.
    counts = await table_counts(db)
    r = await api.post(f"/vms/{vm['id']}/backups")
    assert r.status_code == 409 and "stop it" in r.text, r.text
    await act(api, vm["id"], "stop")
    r = await api.post(f"/vms/{vm['id']}/backups")
    assert r.status_code == 422 and "offering" in r.text, r.text
    assigned = await ok(
        await api.post(f"/vms/{vm['id']}/backup-offering", json={"offering_id": offering["id"]})
    )
    assert assigned["backup_offering_id"] == offering["id"]
    r = await api.post(f"/vms/{vm['id']}/backups")
    assert r.status_code == 409 and "no image store" in r.text, r.text
    assert (await table_counts(db))["backups"] == counts["backups"]

    await store(api, settings, fab["zone"]["id"])
    first = await backup(api, vm["id"])
    assert first["state"] == "BackedUp" and first["offering_id"] == offering["id"]
    kinds = sorted(v["kind"] for v in first["volumes"])
    assert kinds == ["DATADISK", "ROOT"] and all(v["path"] for v in first["volumes"])
    for pool in platform.fleet.pools.values():  # the snapshots it took are gone
        for v in first["volumes"]:
            if v["pool"] == pool.pool_name:
                assert await pool.list_snapshots(v["name"]) == []
    second = await backup(api, vm["id"])
    third = await backup(api, vm["id"])
    states = {
        b["id"]: (await ok(await api.get(f"/backups/{b['id']}")))["state"]
        for b in (first, second, third)
    }
    assert states == {first["id"]: "Removed", second["id"]: "BackedUp", third["id"]: "BackedUp"}

    # A volume restored from a backup: a new Ready volume on a pool of the zone.
    source = next(v for v in third["volumes"] if v["kind"] == "DATADISK")
    body = {"volume_id": source["volume_id"], "name": "restored"}
    r = await ok(await api.post(f"/backups/{third['id']}/volumes", json=body), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    restored = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert restored["state"] == "Ready" and restored["size_bytes"] == source["size_bytes"]
    bad = await api.post(
        f"/backups/{third['id']}/volumes", json={"volume_id": vm["id"], "name": "x"}
    )
    assert bad.status_code == 422 and "not in backup" in bad.text

    r = await ok(await api.delete(f"/backups/{second['id']}"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    assert (await ok(await api.get(f"/backups/{second['id']}")))["state"] == "Removed"
    again = await api.delete(f"/backups/{second['id']}")
    assert again.status_code == 409
    vm_now = await ok(await api.get(f"/vms/{vm['id']}"))
    assert vm_now["state"] == "Stopped" and vm_now["current_operation_id"] is None
    await doctor_clean(db, platform, settings)


async def test_a_failed_copy_leaves_the_backup_error_and_the_vm_free(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    await act(api, vm["id"], "stop")
    await store(api, settings, fab["zone"]["id"])
    offering = await ok(await api.post("/backup-offerings", json={"name": unique("o")}), 201)
    platform.fleet.faults.fail_ops = frozenset({"export_snapshot"})
    platform.fleet.faults.fail_rate = 1.0
    try:
        got = await backup(api, vm["id"], want="failed", offering_id=offering["id"])
    finally:
        platform.fleet.faults.fail_rate = 0.0
        platform.fleet.faults.fail_ops = frozenset()
    assert got["state"] == "Error" and "backup of volume" in got["last_error"]
    root = (await ok(await api.get(f"/vms/{vm['id']}")))["volumes"][0]
    (pool,) = platform.fleet.pools.values()
    assert await pool.list_snapshots(f"strato-vol-{root['id']}") == []  # its snapshot went
    await act(api, vm["id"], "start")  # the VM's lock was given back


async def test_scheduled_backups_fire_and_keep_the_retention(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    settings.snapshot_policy_every_s = 2.0  # every schedule fires every 2 s
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    await act(api, vm["id"], "stop")
    await store(api, settings, fab["zone"]["id"])
    offering = await ok(
        await api.post("/backup-offerings", json={"name": unique("o"), "retention": 1}), 201
    )
    await ok(
        await api.post(f"/vms/{vm['id']}/backup-offering", json={"offering_id": offering["id"]})
    )
    bad = await api.post(
        f"/vms/{vm['id']}/backup-schedules", json={"interval_type": "DAILY", "schedule": "99:99"}
    )
    assert bad.status_code == 422
    sched = await ok(
        await api.post(
            f"/vms/{vm['id']}/backup-schedules",
            json={"interval_type": "DAILY", "schedule": "30:02", "timezone": "Europe/Paris"},
        ),
        201,
    )
    assert sched["schedule_id"] == f"backup-schedule:{sched['id']}"
    desc = await platform.client.get_schedule_handle(sched["schedule_id"]).describe()
    assert desc.id == sched["schedule_id"]

    async def states() -> list[str]:
        page = await ok(await api.get("/backups", params={"vm_id": vm["id"]}))
        return sorted(b["state"] for b in page["items"])

    async with asyncio.timeout(60):  # fires, and the retention of 1 removes the older
        while (await states()).count("Removed") < 1:
            await asyncio.sleep(0.5)
    assert (await states()).count("BackedUp") <= 1
    assert (await api.delete(f"/backup-schedules/{sched['id']}")).status_code == 204
    page = await ok(await api.get("/backup-schedules", params={"vm_id": vm["id"]}))
    assert page["items"] == []


async def _backed_up_vm(api: httpx.AsyncClient, settings: Settings) -> tuple[Any, Any]:
    """A stopped VM with a data disk, its offering, and a BackedUp backup of it."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    data = await ready_volume(api, fab, vm)
    await vol_op(api, data["id"], "attach", {"vm_id": vm["id"]})
    await act(api, vm["id"], "stop")
    await store(api, settings, fab["zone"]["id"])
    offering = await ok(await api.post("/backup-offerings", json={"name": unique("o")}), 201)
    return vm, await backup(api, vm["id"], offering_id=offering["id"])


async def restore_vm(api: httpx.AsyncClient, backup_id: str, **body: Any) -> Any:
    r = await ok(await api.post(f"/backups/{backup_id}/vms", json=body), 202)
    return r


async def test_a_backup_restored_as_a_new_vm(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    vm, b = await _backed_up_vm(api, settings)
    source = await ok(await api.get(f"/vms/{vm['id']}"))

    # Refused, nothing changed: an unknown offering, a backup that does not exist.
    counts = await table_counts(db)
    bad = await api.post(
        f"/backups/{b['id']}/vms", json={"name": "x", "service_offering_id": vm["id"]}
    )
    assert bad.status_code == 422 and "service_offering_id" in bad.text, bad.text
    gone = await api.post(f"/backups/{vm['id']}/vms", json={"name": "x"})
    assert gone.status_code == 404, gone.text
    assert await table_counts(db) == counts

    # While the copies are made the backup cannot be deleted, nor pruned.
    platform.fleet.faults.latency_ms = 800
    try:
        r = await restore_vm(api, b["id"], name="phoenix")
        busy = await api.delete(f"/backups/{b['id']}")
        assert busy.status_code == 409 and "being restored" in busy.text, busy.text
        op = await wait_operation(api, r["operation"]["id"])
    finally:
        platform.fleet.faults.latency_ms = 0
    assert op["state"] == "succeeded", op
    new = await ok(await api.get(f"/vms/{r['resource']['id']}"))
    assert new["state"] == "Running" and new["name"] == "phoenix"
    assert new["service_offering_id"] == source["service_offering_id"]
    vols = await ok(await api.get("/volumes", params={"vm_id": new["id"], "limit": 10}))
    got = sorted((v["kind"], v["device_id"], v["size_bytes"]) for v in vols["items"])
    want = sorted((v["kind"], v["device_id"] or 0, v["size_bytes"]) for v in b["volumes"])
    assert got == want
    for v in vols["items"]:  # files of their own, naming their backup
        assert v["state"] == "Ready" and v["restored_from"] == b["id"] and v["path"]
        assert v["template_id"] is None
    # The source VM is untouched; the restored one stops and starts as any VM.
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["state"] == "Stopped"
    await act(api, new["id"], "stop")
    await act(api, new["id"], "start")

    stopped = await restore_vm(api, b["id"], name="cold", start=False)
    op = await wait_operation(api, stopped["operation"]["id"])
    assert op["state"] == "succeeded", op
    cold = await ok(await api.get(f"/vms/{stopped['resource']['id']}"))
    assert cold["state"] == "Stopped" and cold["current_operation_id"] is None
    r = await ok(await api.delete(f"/backups/{b['id']}"), 202)  # no restore under way now
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    await doctor_clean(db, platform, settings)


async def test_a_failed_restore_leaves_nothing_but_a_vm_in_error(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    _, b = await _backed_up_vm(api, settings)
    (pool,) = platform.fleet.pools.values()

    async def allocated() -> int:
        page = await ok(await api.get("/storage-pools", params={"name": pool.pool_name}))
        (row,) = page["items"]
        return int(row["allocated_bytes"])

    before = await allocated()
    platform.fleet.faults.fail_ops = frozenset({"cache_template"})
    platform.fleet.faults.fail_rate = 1.0
    try:
        r = await restore_vm(api, b["id"], name="doomed")
        op = await wait_operation(api, r["operation"]["id"])
    finally:
        platform.fleet.faults.fail_rate = 0.0
        platform.fleet.faults.fail_ops = frozenset()
    assert op["state"] == "failed", op
    new = await ok(await api.get(f"/vms/{r['resource']['id']}"))
    assert new["state"] == "Error" and "restore failed" in new["last_error"], new
    assert await allocated() == before  # every claim released
    vols = await ok(await api.get("/volumes", params={"vm_id": new["id"], "limit": 10}))
    assert [v["kind"] for v in vols["items"]] == ["ROOT"]  # its data volumes went
    names = {v.name for v in await pool.list_volumes()}
    assert not any(f"strato-vol-{v['id']}" in names for v in vols["items"])
    r = await ok(await api.delete(f"/backups/{b['id']}"), 202)  # not held by the failure
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    await act(api, new["id"], "destroy", {"expunge": True})
    await doctor_clean(db, platform, settings)


async def test_the_doctor_finds_backups_gone_from_the_store(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """A snapshot's backup and a VM backup's files deleted behind Strato's back: the doctor
    names each (one finding per backup), and its repair makes the records say so."""
    _, b = await _backed_up_vm(api, settings)
    data = next(v for v in b["volumes"] if v["kind"] == "DATADISK")
    snap = await take(api, data["volume_id"])
    await snap_op(api, snap["id"], "backup")
    assert (await ok(await api.get(f"/snapshots/{snap['id']}")))["state"] == "BackedUp"
    await doctor_clean(db, platform, settings)

    gone = [p for p in store_files(settings) if p.name == snap["id"] or p.name.startswith(b["id"])]
    assert len(gone) == 3  # the snapshot's backup, the VM backup's two volumes
    for p in gone:
        p.unlink()

    async def checks(repair: bool = False) -> dict[str, bool]:
        report = await examine(
            db,
            platform.client,
            queue=settings.orchestration_queue,
            templates_queue=settings.templates_queue,
            repair=repair,
        )
        return {f.check: f.repaired for f in report.findings}

    assert await checks() == {"snapshot-backup-missing": False, "backup-missing": False}
    assert await checks(repair=True) == {"snapshot-backup-missing": True, "backup-missing": True}
    fixed = await ok(await api.get(f"/snapshots/{snap['id']}"))
    assert fixed["state"] == "CreatedOnPrimary" and fixed["backup_path"] is None
    broken = await ok(await api.get(f"/backups/{b['id']}"))
    assert broken["state"] == "Error" and "not in the image store" in broken["last_error"]
    restore = await api.post(f"/backups/{b['id']}/vms", json={"name": "x"})
    assert restore.status_code == 409, restore.text
    await doctor_clean(db, platform, settings)


async def test_a_delete_that_cannot_reach_the_store_leaves_the_backup_error(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """The store's directory unusable while a backup is deleted: the backup goes Error,
    saying why, unlocked; once the store is back, deleting it again succeeds."""
    _, b = await _backed_up_vm(api, settings)
    async with db.conn() as conn:
        url = await conn.fetchval("SELECT url FROM image_stores WHERE id = $1", b["store_id"])
    root = Path(url.removeprefix("file://"))
    away = root.with_name(root.name + ".away")

    def swap(a: Path, b: Path, broken: bool) -> None:
        if not broken:
            b.unlink()
        a.rename(b)
        if broken:
            a.write_text("not a directory\n")

    await asyncio.to_thread(swap, root, away, True)
    try:
        r = await ok(await api.delete(f"/backups/{b['id']}"), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=60)
        assert op["state"] == "failed", op
    finally:
        await asyncio.to_thread(swap, away, root, False)
    got = await ok(await api.get(f"/backups/{b['id']}"))
    assert got["state"] == "Error" and got["current_operation_id"] is None, got
    assert "could not be deleted" in got["last_error"], got
    r = await ok(await api.delete(f"/backups/{b['id']}"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    assert (await ok(await api.get(f"/backups/{b['id']}")))["state"] == "Removed"
    await doctor_clean(db, platform, settings)


async def test_a_short_image_fails_the_check_and_a_failed_backup_leaves_no_image(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """The backup provider checks every image before BackedUp; a backup that fails has
    its images deleted (the doctor finds no orphan)."""
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    data = await ready_volume(api, fab, vm)
    await vol_op(api, data["id"], "attach", {"vm_id": vm["id"]})
    await act(api, vm["id"], "stop")
    await store(api, settings, fab["zone"]["id"])
    offering = await ok(await api.post("/backup-offerings", json={"name": unique("o")}), 201)
    # As if the data volume had grown past what its pool exports: its image comes short.
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE volumes SET size_bytes = size_bytes + $2 WHERE id = $1",
            UUID(data["id"]),
            1 << 30,
        )
    got = await backup(api, vm["id"], want="failed", offering_id=offering["id"])
    assert got["state"] == "Error" and "failed its provider's check" in got["last_error"], got
    assert "short of the volume's" in got["last_error"]
    assert f"volume {data['id']}" in got["last_error"]
    assert not [p for p in store_files(settings) if got["id"] in p.name]  # root's went too
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE volumes SET size_bytes = size_bytes - $2 WHERE id = $1",
            UUID(data["id"]),
            1 << 30,
        )
    # The check passes for whole images: what the store holds is recorded.
    b = await backup(api, vm["id"], offering_id=offering["id"])
    assert b["state"] == "BackedUp" and len(b["volumes"]) == 2
    held = {str(p) for p in store_files(settings)}
    assert all(v["path"] in held and v["stored_bytes"] > 0 for v in b["volumes"]), b
    await doctor_clean(db, platform, settings)
