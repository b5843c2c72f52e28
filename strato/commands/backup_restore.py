"""Restores from a VM backup: one volume of it as a new data volume
(RestoreBackupVolume), or the whole VM as a new VM (RestoreBackupVm, CloudStack's
createVMFromBackup) with the backed-up VM's template and, unless named, its offering.

Each restored volume is claimed on a pool of the backup's zone (the source volume's if it
has room; a VM's data volumes beside its root) and names the backup it comes from, in the
command's transaction, which holds the backup (FOR SHARE): a DeleteBackup either went
first (the restore is refused) or waits and then refuses while the copies are made.

Refused here, with nothing changed: a backup not BackedUp (or being deleted), a volume not
in the backup, an inactive offering, no pool with room.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.commands.auth import Action
from strato.commands.compute import boot_input, search_attributes, vm_row
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute import flows as compute_flows
from strato.domain.compute.models import ServiceOffering, Vm
from strato.domain.compute.payloads import RestoreVmInput
from strato.domain.errors import Conflict, InsufficientCapacity, InvalidInput, NotFound
from strato.domain.fields import Name, Request, Text
from strato.domain.states import OfferingState, VmState, VolumeState
from strato.domain.storage import flows
from strato.domain.storage.backups import RestoreDisk, RestoreVolumeInput
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.compute.vms import VMS
from strato.schema.operations import OperationRecord
from strato.schema.storage import backups, pools, templates, volumes
from strato.schema.tables import SERVICE_OFFERINGS


class BackupRestoreVolume(Request):
    volume_id: UUID  # the volume of the backup to restore
    name: Name
    owner: Text = ""


class BackupRestoreVm(Request):
    name: Name
    display_name: Text = ""
    service_offering_id: UUID | None = None  # else the backed-up VM's
    owner: Text | None = None  # else the backed-up VM's
    start: bool = True


async def restore_volume(
    ctx: CommandContext, backup_id: UUID, body: BackupRestoreVolume, idempotency_key: str | None
) -> Accepted:
    """A new data volume, on a pool of the backup's zone (the source volume's if it has
    room), from one volume of a BackedUp backup."""
    await ctx.authorize(Action("backup.restore", "backup", backup_id))
    body = ctx.owned_by_caller(body)

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op, vol_id = uuid4(), uuid4()
        backup = await backups.share(conn, backup_id)
        entry = next((v for v in backup["volumes"] if v["volume_id"] == str(body.volume_id)), None)
        if entry is None:
            raise InvalidInput(
                f"volume_id: volume {body.volume_id} is not in backup {backup_id}",
                field="volume_id",
            )
        size = int(entry["size_bytes"])
        zone_id = backup["zone_id"]
        await _insert_volume(conn, op, vol_id, backup_id, zone_id, body.name, body.owner, size)
        await ctx.take(conn, body.owner, "volume")
        await ctx.take(conn, body.owner, "primary_storage", size)
        await volumes.acquire(conn, vol_id, op, "restore", {VolumeState.ALLOCATED})
        pool = await pools.claim_in_zone(conn, vol_id, zone_id, body.volume_id, size)
        await volumes.enter(conn, vol_id, VolumeState.CREATING, op)
        inp = RestoreVolumeInput(
            volume_id=vol_id,
            operation_id=op,
            name=volumes.storage_name(vol_id),
            pool=pool,
            source=entry["path"],
            size_bytes=size,
        )
        return await intake.record(
            conn,
            operation_id=op,
            resource_type="volume",
            resource_id=vol_id,
            verb="restore",
            workflow_type=flows.RESTORE_BACKUP_VOLUME.name,
            input=inp,
            attributes={"StratoZone": str(zone_id)},
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"restore": str(backup_id), **body.model_dump(mode="json")},
        build=build,
        resource=volumes.VOLUMES,
    )


async def restore_vm(
    ctx: CommandContext, backup_id: UUID, body: BackupRestoreVm, idempotency_key: str | None
) -> Accepted:
    """A new VM (Allocated, locked for the restore) with one volume per volume of the
    backup, at the same devices, each claimed on a pool: the root's first."""
    await ctx.authorize(Action("backup.restore-vm", "backup", backup_id))
    if body.owner is not None or ctx.caller.owners is not None:
        body = ctx.owned_by_caller(body)

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op, vm_id = uuid4(), uuid4()
        backup = await backups.share(conn, backup_id)
        source: Vm = await repository.get(conn, VMS, backup["vm_id"])
        # Shared, as a deploy's: a delete of the template waits, then sees this VM.
        await templates.share_lock(conn, source.template_id)
        offering_id = body.service_offering_id or source.service_offering_id
        off = await _offering(conn, offering_id)
        entries = sorted(backup["volumes"], key=lambda v: (v["kind"] != "ROOT", v["device_id"]))
        if not entries or entries[0]["kind"] != "ROOT":
            raise Conflict(f"backup {backup_id} has no root volume to make a VM from")
        owner = source.owner if body.owner is None else body.owner
        zone_id = backup["zone_id"]
        row = vm_row(vm_id, body.name, body.display_name, zone_id, off, source.template_id, owner)
        vm = await repository.insert(conn, VMS, row, operation_id=op)
        disks = await _volumes(conn, op, vm_id, backup_id, zone_id, owner, entries)
        await ctx.take(conn, owner, "vm")
        await ctx.take(conn, owner, "cpu", vm.cpu_count)
        await ctx.take(conn, owner, "memory", vm.memory_mb)
        await ctx.take(conn, owner, "volume", len(disks))
        await ctx.take(conn, owner, "primary_storage", sum(d.size_bytes for d in disks))
        await vms.acquire(conn, vm_id, op, "restore", frozenset({VmState.ALLOCATED}))
        boot = boot_input(ctx.settings, vm_id, op, start=body.start)
        inp = RestoreVmInput(**boot.model_dump(), backup_id=backup_id, disks=disks)
        return await intake.record(
            conn,
            operation_id=op,
            resource_type="vm",
            resource_id=vm_id,
            verb="restore",
            workflow_type=compute_flows.RESTORE_BACKUP_VM.name,
            input=inp,
            attributes=search_attributes(vm),
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"restore-vm": str(backup_id), **body.model_dump(mode="json")},
        build=build,
        resource=VMS,
    )


async def _volumes(
    conn: Any,
    op: UUID,
    vm_id: UUID,
    backup_id: UUID,
    zone_id: UUID,
    owner: str,
    entries: list[Any],
) -> list[RestoreDisk]:
    """The restored VM's volumes, the root first (on its source's pool if it has room),
    each data volume on a pool the root's hosts reach (the root's if it has room)."""
    disks: list[RestoreDisk] = []
    root_pool = ""
    for entry in entries:
        vol_id, size = uuid4(), int(entry["size_bytes"])
        name = volumes.storage_name(vol_id)
        root = entry["kind"] == "ROOT"
        await _insert_volume(
            conn,
            op,
            vol_id,
            backup_id,
            zone_id,
            name,
            owner,
            size,
            vm_id=vm_id,
            kind=entry["kind"],
            device_id=0 if root else entry["device_id"],
        )
        if root:
            root_pool = await pools.claim_in_zone(
                conn, vol_id, zone_id, UUID(entry["volume_id"]), size
            )
            await vms.attach_root_and_groups(conn, vm_id, vol_id, [])
            pool = root_pool
        else:
            near = await pools.claim_near(conn, vol_id, host_name=None, near_pool_name=root_pool)
            if near is None:
                raise InsufficientCapacity(
                    f"no pool reachable beside {root_pool} has room for {size} bytes"
                )
            pool = near[1]
        disks.append(
            RestoreDisk(
                volume_id=vol_id, name=name, pool=pool, source=entry["path"], size_bytes=size
            )
        )
    return disks


async def _offering(conn: Any, offering_id: UUID | None) -> ServiceOffering:
    if offering_id is None:
        raise InvalidInput("service_offering_id: name one", field="service_offering_id")
    try:
        off: ServiceOffering = await repository.get(conn, SERVICE_OFFERINGS, offering_id)
    except NotFound as err:
        detail = f"service_offering_id: {err.detail}"
        raise InvalidInput(detail, field="service_offering_id") from err
    if off.state != OfferingState.ACTIVE:
        raise InvalidInput(
            f"service_offering_id: offering {off.name} is {off.state}", field="service_offering_id"
        )
    return off


async def _insert_volume(
    conn: Any,
    op: UUID,
    vol_id: UUID,
    backup_id: UUID,
    zone_id: UUID,
    name: str,
    owner: str,
    size: int,
    *,
    vm_id: UUID | None = None,
    kind: str = "DATADISK",
    device_id: int | None = None,
) -> None:
    await repository.insert(
        conn,
        volumes.VOLUMES,
        {
            "id": vol_id,
            "name": name,
            "zone_id": zone_id,
            "vm_id": vm_id,
            "kind": kind,
            "device_id": device_id,
            "size_bytes": size,
            "owner": owner,
            "restored_from": backup_id,
        },
        operation_id=op,
    )
