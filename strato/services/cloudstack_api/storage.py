"""Volumes, snapshots, snapshot policies and VM snapshots, onto Strato's storage
commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.commands import policies, snapshots, storage, vm_snapshots, volume_migration
from strato.commands.view import Accepted
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import OWNED, answer_list
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.schema import lookups
from strato.services.cloudstack_api.schema import storage_views as sv
from strato.services.cloudstack_api.schema import views as v
from strato.services.cloudstack_api.vms import ACCOUNT, owner_of_request

GiB = 1 << 30
VOLUME_FIELDS = ("id", "name", "type", "state", "size", "virtualmachineid", "deviceid")
ID = P("id", "uuid", required=True)


read_volume = jobs.reader("Volume", "volume")(jobs.view_reader(sv.VOLUMES, render.volume))
jobs.reader("Snapshot", "snapshot")(jobs.view_reader(sv.SNAPSHOTS, render.snapshot))
jobs.reader("VmSnapshot", "vmsnapshot")(jobs.view_reader(v.VM_SNAPSHOTS, render.vm_snapshot))


def _created_id(accepted: Accepted) -> UUID | None:
    return UUID(str(accepted.resource["id"])) if accepted.resource else None


@command(
    "listVolumes",
    "Lists volumes",
    *OWNED,
    P("zoneid", "uuid"),
    P("type", "string", description="ROOT or DATADISK"),
    P("virtualmachineid", "uuid"),
    P("storageid", "uuid"),
    P("diskofferingid", "uuid"),
    P("state", "string"),
    P("displayvolume", "boolean"),
    item="volume",
    action="volume.list",
    response=VOLUME_FIELDS,
)
async def list_volumes(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    for param, column in (
        ("zoneid", "t.zone_id"),
        ("virtualmachineid", "t.vm_id"),
        ("storageid", "t.pool_id"),
        ("diskofferingid", "t.disk_offering_id"),
    ):
        if call.get(param) is not None:
            filters.append((f"{column} = {{}}", call[param]))
    if call.get("type"):
        filters.append(("t.kind = upper({})", call["type"]))
    if call.get("state"):
        filters.append(("lower(t.state) = lower({})", call["state"]))
    return await answer_list(call, sv.VOLUMES, "volume", filters=filters)


@command(
    "createVolume",
    "Creates a data volume (its file is made when it is first attached)",
    P("name", "string"),
    P("zoneid", "uuid"),
    P("diskofferingid", "uuid"),
    P("size", "long", description="GiB, for a custom-size offering (or without one)"),
    P("snapshotid", "uuid", description="a volume from this snapshot"),
    P("virtualmachineid", "uuid", description="not supported: attach it after (attachVolume)"),
    P("displayvolume", "boolean"),
    *ACCOUNT,
    is_async=True,
    item="volume",
    response=VOLUME_FIELDS,
)
async def create_volume(call: Call) -> dict[str, Any]:
    owner = await owner_of_request(call)
    if call.get("virtualmachineid") is not None:
        raise wire.param_error("virtualmachineid is not supported: attach it with attachVolume")
    name = call.get("name") or "vol"
    if call.get("snapshotid") is not None:
        body = snapshots.VolumeFromSnapshot(name=name, owner=owner)
        accepted = await snapshots.volume_from_snapshot(call.ctx, call["snapshotid"], body, None)
        return await call.job(accepted, "Volume", _created_id(accepted))
    if call.get("zoneid") is None:
        raise wire.CsError(
            wire.PARAM_ERROR,
            "Unable to execute API command createvolume due to missing parameter zoneid",
        )
    if call.get("diskofferingid") is None and call.get("size") is None:
        raise wire.param_error("Either disk offering ID or snapshot ID must be passed")
    volume = await storage.create_volume(
        call.ctx,
        storage.VolumeCreate(
            name=name,
            zone_id=call["zoneid"],
            disk_offering_id=call.get("diskofferingid"),
            size_gb=call.get("size"),
            owner=owner,
        ),
    )
    shown = await read_volume(call, volume.id)
    return await call.job(None, "Volume", volume.id, owner=volume.owner, result={"volume": shown})


@command(
    "attachVolume",
    "Attaches a data volume to a VM",
    ID,
    P("virtualmachineid", "uuid", required=True),
    P("deviceid", "long"),
    is_async=True,
    item="volume",
    response=VOLUME_FIELDS,
)
async def attach_volume(call: Call) -> dict[str, Any]:
    body = storage.VolumeAttach(vm_id=call["virtualmachineid"], device_id=call.get("deviceid"))
    accepted = await storage.attach_volume(call.ctx, call["id"], body, None)
    return await call.job(accepted, "Volume", call["id"])


@command(
    "detachVolume",
    "Detaches a data volume from its VM",
    P("id", "uuid"),
    P("virtualmachineid", "uuid"),
    P("deviceid", "long"),
    is_async=True,
    item="volume",
    response=VOLUME_FIELDS,
)
async def detach_volume(call: Call) -> dict[str, Any]:
    volume_id = call.get("id")
    if volume_id is None:
        raise wire.CsError(
            wire.PARAM_ERROR,
            "Unable to execute API command detachvolume due to missing parameter id "
            "(Strato detaches by the volume's id)",
        )
    accepted = await storage.detach_volume(call.ctx, volume_id, None)
    return await call.job(accepted, "Volume", volume_id)


@command(
    "resizeVolume",
    "Resizes a volume",
    ID,
    P("size", "long", description="GiB"),
    P("diskofferingid", "uuid", description="not supported: give size"),
    P("shrinkok", "boolean"),
    is_async=True,
    item="volume",
    response=VOLUME_FIELDS,
)
async def resize_volume(call: Call) -> dict[str, Any]:
    if call.get("size") is None:
        raise wire.param_error(
            "resizeVolume needs size (GiB); a change of disk offering is not supported"
        )
    body = storage.VolumeResize(size_gb=call["size"], shrink_ok=bool(call.get("shrinkok")))
    accepted = await storage.resize_volume(call.ctx, call["id"], body, None)
    return await call.job(accepted, "Volume", call["id"])


@command(
    "migrateVolume",
    "Moves a volume to another storage pool",
    P("volumeid", "uuid", required=True),
    P("storageid", "uuid", required=True),
    P("livemigrate", "boolean"),
    is_async=True,
    item="volume",
    response=VOLUME_FIELDS,
)
async def migrate_volume(call: Call) -> dict[str, Any]:
    body = volume_migration.VolumeMigrate(pool_id=call["storageid"])
    accepted = await volume_migration.migrate_volume(call.ctx, call["volumeid"], body, None)
    return await call.job(accepted, "Volume", call["volumeid"])


@command("deleteVolume", "Deletes a detached data volume", ID, response=("success",))
async def delete_volume(call: Call) -> dict[str, Any]:
    body = storage.VolumeDestroy(expunge=True)
    accepted = await storage.destroy_volume(call.ctx, call["id"], body, None)
    await jobs.wait(call, accepted)
    return wire.SUCCESS


@command(
    "listSnapshots",
    "Lists volume snapshots",
    *OWNED,
    P("volumeid", "uuid"),
    P("zoneid", "uuid"),
    P("snapshottype", "string"),
    P("intervaltype", "string"),
    item="snapshot",
    action="snapshot.list",
    response=("id", "name", "volumeid", "state", "snapshottype", "created"),
)
async def list_snapshots(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("volumeid") is not None:
        filters.append(("t.volume_id = {}", call["volumeid"]))
    if call.get("zoneid") is not None:
        filters.append(("t.zone_id = {}", call["zoneid"]))
    if call.get("snapshottype"):
        filters.append(("t.kind = upper({})", call["snapshottype"]))
    return await answer_list(call, sv.SNAPSHOTS, "snapshot", filters=filters)


@command(
    "createSnapshot",
    "Takes a snapshot of a volume",
    P("volumeid", "uuid", required=True),
    P("name", "string"),
    P("quiescevm", "boolean"),
    P("asyncbackup", "boolean"),
    *ACCOUNT,
    is_async=True,
    item="snapshot",
    response=("id", "name", "volumeid", "state"),
)
async def create_snapshot(call: Call) -> dict[str, Any]:
    body = snapshots.SnapshotCreate(name=call.get("name"))
    accepted = await snapshots.create_snapshot(call.ctx, call["volumeid"], body, None)
    return await call.job(accepted, "Snapshot", _created_id(accepted))


@command("deleteSnapshot", "Deletes a snapshot", ID, is_async=True, response=("success",))
async def delete_snapshot(call: Call) -> dict[str, Any]:
    accepted = await snapshots.delete_snapshot(call.ctx, call["id"], None)
    return await call.job(accepted, "Snapshot", call["id"])


@command(
    "revertSnapshot",
    "Reverts a volume to a snapshot",
    ID,
    is_async=True,
    item="snapshot",
    response=("id", "state"),
)
async def revert_snapshot(call: Call) -> dict[str, Any]:
    accepted = await snapshots.revert_snapshot(call.ctx, call["id"], None)
    return await call.job(accepted, "Snapshot", call["id"])


@command(
    "listSnapshotPolicies",
    "Lists a volume's snapshot policies",
    P("volumeid", "uuid"),
    P("id", "uuid"),
    P("page", "integer"),
    P("pagesize", "integer"),
    item="snapshotpolicy",
    action="snapshot_policy.list",
    response=("id", "volumeid", "intervaltype", "schedule", "maxsnaps", "timezone"),
)
async def list_snapshot_policies(call: Call) -> dict[str, Any]:
    filters = [("t.volume_id = {}", call["volumeid"])] if call.get("volumeid") else []
    return await answer_list(call, sv.SNAPSHOT_POLICIES, "snapshotpolicy", filters=filters)


@command(
    "createSnapshotPolicy",
    "Creates a recurring snapshot policy on a volume",
    P("volumeid", "uuid", required=True),
    P("intervaltype", "string", required=True, description="HOURLY, DAILY, WEEKLY, MONTHLY"),
    P("schedule", "string", required=True, description="MM, MM:HH, MM:HH:DD"),
    P("maxsnaps", "integer", required=True),
    P("timezone", "string", required=True),
    item="snapshotpolicy",
    response=("id", "volumeid", "intervaltype", "schedule", "maxsnaps"),
)
async def create_snapshot_policy(call: Call) -> dict[str, Any]:
    body = policies.PolicyCreate(
        interval_type=call["intervaltype"].upper(),
        schedule=call["schedule"],
        timezone=call["timezone"],
        max_snaps=call["maxsnaps"],
    )
    policy = await policies.create_policy(call.ctx, call["volumeid"], body)
    shown = await jobs.view_reader(sv.SNAPSHOT_POLICIES, render.snapshot_policy)(call, policy.id)
    return {"snapshotpolicy": shown}


@command(
    "deleteSnapshotPolicies",
    "Deletes snapshot policies",
    P("id", "uuid"),
    P("ids", "list"),
    response=("success",),
)
async def delete_snapshot_policies(call: Call) -> dict[str, Any]:
    from strato.services.cloudstack_api.lists import ids_of

    found = ids_of(call)
    if not found:
        raise wire.param_error("Either id or ids parameter should be passed")
    for policy_id in found:
        await policies.delete_policy(call.ctx, policy_id)
    return wire.SUCCESS


@command(
    "listVMSnapshot",
    "Lists VM snapshots",
    *OWNED,
    P("virtualmachineid", "uuid"),
    P("vmsnapshotid", "uuid"),
    P("state", "string"),
    item="vmSnapshot",
    action="vm_snapshot.list",
    response=("id", "name", "state", "virtualmachineid", "type"),
)
async def list_vm_snapshots(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("virtualmachineid") is not None:
        filters.append(("t.vm_id = {}", call["virtualmachineid"]))
    if call.get("vmsnapshotid") is not None:
        filters.append(("t.id = {}", call["vmsnapshotid"]))
    if call.get("state"):
        filters.append(("lower(t.state) = lower({})", call["state"]))
    return await answer_list(
        call, v.VM_SNAPSHOTS, "vmSnapshot", filters=filters, shape=render.vm_snapshot
    )


@command(
    "createVMSnapshot",
    "Takes a snapshot of a whole VM (its disks, and with snapshotmemory its memory)",
    P("virtualmachineid", "uuid", required=True),
    P("name", "string"),
    P("description", "string"),
    P("snapshotmemory", "boolean"),
    P("quiescevm", "boolean"),
    is_async=True,
    item="vmsnapshot",
    response=("id", "name", "state", "virtualmachineid"),
)
async def create_vm_snapshot(call: Call) -> dict[str, Any]:
    body = vm_snapshots.VmSnapshotCreate(
        name=call.get("name"),
        description=call.get("description") or "",
        memory=bool(call.get("snapshotmemory")),
    )
    accepted = await vm_snapshots.create(call.ctx, call["virtualmachineid"], body, None)
    return await call.job(accepted, "VmSnapshot", _created_id(accepted))


@command(
    "deleteVMSnapshot",
    "Deletes a VM snapshot",
    P("vmsnapshotid", "uuid", required=True),
    is_async=True,
    response=("success",),
)
async def delete_vm_snapshot(call: Call) -> dict[str, Any]:
    accepted = await vm_snapshots.delete(call.ctx, call["vmsnapshotid"], None)
    return await call.job(accepted, "VmSnapshot", call["vmsnapshotid"])


@command(
    "revertToVMSnapshot",
    "Reverts a VM to a VM snapshot",
    P("vmsnapshotid", "uuid", required=True),
    is_async=True,
    item="virtualmachine",
    response=("id", "state"),
)
async def revert_vm_snapshot(call: Call) -> dict[str, Any]:
    accepted = await vm_snapshots.revert(call.ctx, call["vmsnapshotid"], None)
    async with call.ctx.db.conn() as conn:
        vm_id = await lookups.vm_of_vm_snapshot(conn, call["vmsnapshotid"])
    return await call.job(accepted, "VirtualMachine", vm_id)
