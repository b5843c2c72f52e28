"""VM snapshots with real Temporal + PG, simulated hosts and pools: taken with the memory of
a running VM (on every disk's pool file and on the host), disks only of a stopped one,
reverted both ways, deleted; the VM keeps its disks and offering meanwhile; refusals
change nothing; a failed take leaves an Error snapshot that can be deleted; an expunged
VM takes its snapshots with it, off the data volumes it leaves too; the doctor finds a
stuck one."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.test_volumes import create, problem, running_vm, vol_op
from tests.workflows.vm_helpers import act, vm_zone


async def snap_op(
    api: httpx.AsyncClient, method: str, path: str, body: Any = None, want: str = "succeeded"
) -> dict[str, Any]:
    r = await ok(await api.request(method, path, json=body), 202)
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == want, op
    got: dict[str, Any] = await ok(await api.get(f"/vm-snapshots/{r['resource']['id']}"))
    return got


async def take(api: httpx.AsyncClient, vm_id: str, want: str = "succeeded", **body: Any) -> Any:
    return await snap_op(api, "POST", f"/vms/{vm_id}/vm-snapshots", body, want)


def pool_tags(platform: Platform, volume_name: str) -> set[str]:
    (pool,) = platform.fleet.pools.values()
    return {s.name for s in pool.snapshots.get(volume_name, [])}


async def test_vm_snapshots_taken_reverted_and_deleted(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    data = await create(api, fab)
    await vol_op(api, data["id"], "attach", {"vm_id": vm["id"]})
    sim = platform.fleet.drivers[vm["host_name"]]
    domain = f"strato-{vm['id']}"
    root_name, data_name = f"strato-vol-{vm['volumes'][0]['id']}", f"strato-vol-{data['id']}"

    # With its memory, of the running VM: on both disks' files and on the host.
    live = await take(api, vm["id"], name="before-upgrade", memory=True)
    assert live["state"] == "Ready" and live["memory"] and live["vm_state"] == "Running"
    assert [d["device"] for d in live["disks"]] == ["vda", "vdb"]
    assert live["tag"] in pool_tags(platform, root_name) & pool_tags(platform, data_name)
    assert live["tag"] in sim.memory_snapshots[domain]

    # The VM keeps its disks and its offering while it has snapshots; nothing changes.
    spare = await create(api, fab)
    body = {"name": unique("so"), "cpu_count": 1, "cpu_speed_mhz": 500, "memory_mb": 256}
    bigger = await ok(await api.post("/service-offerings", json=body), 201)
    counts = await table_counts(db)
    await problem(
        await api.post(f"/volumes/{spare['id']}/attach", json={"vm_id": vm["id"]}),
        409,
        "delete them before you attach volume",
    )
    await problem(await api.post(f"/volumes/{data['id']}/detach"), 409, "1 VM snapshot(s)")
    await problem(
        await api.post(f"/volumes/{data['id']}/resize", json={"size_gb": 3}), 409, "VM snapshot"
    )
    scaled = await api.post(f"/vms/{vm['id']}/scale", json={"service_offering_id": bigger["id"]})
    await problem(scaled, 409, "before you scale")
    # ...nor a second one of the same name, one with memory of a stopped VM, one that is
    # disks only of a running VM on a host that cannot (the simulator's cannot).
    again = await api.post(f"/vms/{vm['id']}/vm-snapshots", json={"name": "before-upgrade"})
    assert again.status_code == 409, again.text
    await problem(
        await api.post(f"/vms/{vm['id']}/vm-snapshots", json={"memory": False}),
        409,
        "live_disk_snapshot",
    )
    bad = await api.post(f"/vms/{vm['id']}/vm-snapshots", json={"memory": "yes please"})
    assert bad.status_code == 422, bad.text
    gone = await api.post(f"/vms/{uuid.uuid4()}/vm-snapshots", json={})
    assert gone.status_code == 404, gone.text
    assert await table_counts(db) == counts

    # Reverted with the VM running: the host loads it; the VM stays Running.
    reverted = await snap_op(api, "POST", f"/vm-snapshots/{live['id']}/revert")
    assert reverted["state"] == "Ready"
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["state"] == "Running"

    # Stopped: a disks-only snapshot by the pools; both revert by the pools.
    await act(api, vm["id"], "stop")
    await problem(
        await api.post(f"/vms/{vm['id']}/vm-snapshots", json={"memory": True}), 422, "memory"
    )
    cold = await take(api, vm["id"], name="cold")
    assert not cold["memory"] and cold["vm_state"] == "Stopped"
    assert cold["tag"] in pool_tags(platform, root_name) & pool_tags(platform, data_name)
    for s in (live, cold):
        got = await snap_op(api, "POST", f"/vm-snapshots/{s['id']}/revert")
        assert got["state"] == "Ready" and got["last_error"] is None
    assert (await ok(await api.get(f"/vms/{vm['id']}")))["state"] == "Stopped"

    # Running again, a disks-only snapshot reverts only with the VM stopped.
    await act(api, vm["id"], "start")
    await problem(await api.post(f"/vm-snapshots/{cold['id']}/revert"), 409, "stop the VM")

    # Deleted (the running VM's host deletes both from every disk); the guard lifts.
    for s in (live, cold):
        got = await snap_op(api, "DELETE", f"/vm-snapshots/{s['id']}")
        assert got["state"] == "Removed"
    assert not pool_tags(platform, root_name) and not pool_tags(platform, data_name)
    assert not sim.memory_snapshots[domain]
    await vol_op(api, data["id"], "detach")
    params = {"resource_id": live["id"]}
    events = (await ok(await api.get("/events", params=params)))["items"]
    moves = [(e["data"].get("old_state"), e["data"].get("new_state")) for e in events]
    assert moves == [
        (None, "Creating"),
        ("Creating", "Ready"),
        ("Ready", "Reverting"),
        ("Reverting", "Ready"),
        ("Ready", "Reverting"),
        ("Reverting", "Ready"),
        ("Ready", "Expunging"),
        ("Expunging", "Removed"),
    ], events
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_a_failed_take_is_error_and_deletable_and_the_limit_holds(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    faults = platform.fleet.faults
    faults.fail_ops, faults.fail_rate = frozenset({"snapshot_vm"}), 1.0
    try:
        failed = await take(api, vm["id"], want="failed", memory=True)
    finally:
        faults.fail_ops, faults.fail_rate = frozenset(), 0.0
    assert failed["state"] == "Error" and "simulated failure" in failed["last_error"], failed
    got = await ok(await api.get(f"/vms/{vm['id']}"))
    assert got["state"] == "Running" and got["current_operation_id"] is None
    await problem(await api.post(f"/vm-snapshots/{failed['id']}/revert"), 409, "Error")
    removed = await snap_op(api, "DELETE", f"/vm-snapshots/{failed['id']}")
    assert removed["state"] == "Removed"

    settings.vm_snapshot_max = 2
    try:
        await take(api, vm["id"], memory=True)
        await take(api, vm["id"], memory=True)
        await problem(
            await api.post(f"/vms/{vm['id']}/vm-snapshots", json={"memory": True}),
            409,
            "the most it may have",
        )
    finally:
        settings.vm_snapshot_max = 10
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_an_expunged_vm_takes_its_snapshots_off_its_data_volumes(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    data = await create(api, fab)
    await vol_op(api, data["id"], "attach", {"vm_id": vm["id"]})
    snap = await take(api, vm["id"], memory=True)
    data_name = f"strato-vol-{data['id']}"
    assert snap["tag"] in pool_tags(platform, data_name)

    await act(api, vm["id"], "destroy", {"expunge": True})
    got = await ok(await api.get(f"/vm-snapshots/{snap['id']}"))
    assert got["state"] == "Removed"
    vol = await ok(await api.get(f"/volumes/{data['id']}"))
    assert vol["vm_id"] is None and vol["state"] == "Ready"
    assert snap["tag"] not in pool_tags(platform, data_name)  # its file keeps no trace
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()


async def test_the_doctor_finds_and_repairs_a_stuck_vm_snapshot(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    snap = await take(api, vm["id"], memory=True)
    # As a take whose workflow was terminated would leave it: Creating, its VM let go.
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE vm_snapshots SET state = 'Creating', current_operation_id = $2 WHERE id = $1",
            uuid.UUID(snap["id"]),
            uuid.uuid4(),
        )
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    (finding,) = report.findings
    assert finding.check == "stuck-vm-snapshot" and snap["id"] in finding.resource
    await examine(db, platform.client, queue=settings.orchestration_queue, repair=True)
    got = await ok(await api.get(f"/vm-snapshots/{snap['id']}"))
    assert got["state"] == "Error" and "strato doctor" in got["last_error"]
    assert got["current_operation_id"] is None
    assert (await snap_op(api, "DELETE", f"/vm-snapshots/{snap['id']}"))["state"] == "Removed"
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.clean, report.as_dict()
