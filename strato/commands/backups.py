"""VM backups (CloudStack's backup offerings): assign a VM to an offering, back it up (a
full copy of each volume, from a snapshot), delete a backup. Restores are
:mod:`strato.commands.backup_restore`'s.

Refused here, with nothing changed: a running VM on a host that cannot snapshot a running
guest's disks (stop it), a VM with no offering, a zone without an image store, a
backup not BackedUp or being restored from.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute.models import Vm
from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.fabric.models import Host
from strato.domain.fields import Request
from strato.domain.states import VmState
from strato.domain.storage import flows
from strato.domain.storage.backups import (
    BackupVolume,
    CreateBackupInput,
    DeleteBackupInput,
)
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.compute.vms import VMS
from strato.schema.operations import OperationRecord
from strato.schema.storage import backups, templates, volumes
from strato.schema.storage.backups import BACKUPS, OFFERINGS
from strato.schema.tables import HOSTS


class BackupOfferingAssign(Request):
    offering_id: UUID | None  # None: the VM leaves its offering


class BackupCreate(Request):
    offering_id: UUID | None = None  # else the VM's own


async def assign_offering(ctx: CommandContext, vm_id: UUID, body: BackupOfferingAssign) -> Vm:
    await ctx.authorize(Action("vm.backup-offering", "vm", vm_id))
    async with ctx.db.tx() as conn:
        if body.offering_id is not None:
            try:
                await repository.get(conn, OFFERINGS, body.offering_id)
            except NotFound as err:
                raise InvalidInput(f"offering_id: {err.detail}", field="offering_id") from err
        vm: Vm = await repository.update(conn, VMS, vm_id, {"backup_offering_id": body.offering_id})
    return vm


async def _record(
    conn: Any,
    intake: Intake,
    op: UUID,
    backup_id: UUID,
    verb: str,
    flow: str,
    inp: BaseModel,
    zone_id: UUID,
) -> OperationRecord:
    return await intake.record(
        conn,
        operation_id=op,
        resource_type="backup",
        resource_id=backup_id,
        verb=verb,
        workflow_type=flow,
        input=inp,
        attributes={"StratoZone": str(zone_id)},
    )


async def create_backup(
    ctx: CommandContext, vm_id: UUID, body: BackupCreate | None, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("vm.backup", "vm", vm_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op, backup_id = uuid4(), uuid4()
        vm = await vms.acquire(conn, vm_id, op, "backup", frozenset(VmState))
        live_host = await _live_host(conn, vm)
        offering_id = (body.offering_id if body else None) or vm.backup_offering_id
        if offering_id is None:
            raise InvalidInput(
                "offering_id: the VM has no backup offering; assign one or name one",
                field="offering_id",
            )
        try:
            await repository.get(conn, OFFERINGS, offering_id)
        except NotFound as err:
            raise InvalidInput(f"offering_id: {err.detail}", field="offering_id") from err
        try:
            store = await templates.writable_store(conn, vm.zone_id)
        except InvalidInput as err:
            raise Conflict(f"VM {vm.name}'s zone has no image store that is Up") from err
        vols = []
        for v in await volumes.for_vm(conn, vm.id):
            c = await volumes.context(conn, v.id)
            if c.path is None or c.pool_name is None:
                continue  # never made (lazy): nothing to copy
            vols.append(
                BackupVolume(
                    volume_id=v.id,
                    name=c.name,
                    kind=v.kind,
                    device_id=v.device_id if v.kind != "ROOT" else 0,
                    pool=c.pool_name,
                    size_bytes=v.size_bytes,
                )
            )
        await repository.insert(
            conn,
            BACKUPS,
            {
                "id": backup_id,
                "vm_id": vm.id,
                "zone_id": vm.zone_id,
                "offering_id": offering_id,
                "store_id": store.store_id,
                "current_operation_id": op,
            },
            operation_id=op,
        )
        await ctx.take(conn, vm.owner, "backup")
        inp = CreateBackupInput(
            backup_id=backup_id,
            vm_id=vm.id,
            operation_id=op,
            store=store,
            volumes=vols,
            queue=ctx.settings.templates_queue,
            live_host=live_host,
            hypervisor_name=vms.hypervisor_name(vm.id) if live_host else None,
        )
        flow = flows.CREATE_BACKUP.name
        return await _record(conn, intake, op, backup_id, "create", flow, inp, vm.zone_id)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"backup": str(vm_id), **(body.model_dump(mode="json") if body else {})},
        build=build,
        resource=BACKUPS,
    )


async def _live_host(conn: Any, vm: Vm) -> str | None:
    """None for a stopped VM (its pools snapshot its disks); for a running one, its host,
    whose QEMU must snapshot the disks it holds (``live_disk_snapshot``)."""
    if vm.state == VmState.STOPPED:
        return None
    host: Host | None = await repository.get(conn, HOSTS, vm.host_id) if vm.host_id else None
    if vm.state != VmState.RUNNING or host is None:
        raise Conflict(f"VM {vm.name} is {vm.state}: back it up Running or Stopped")
    if not host.capabilities.get("live_disk_snapshot"):
        raise Conflict(
            f"VM {vm.name} runs on host {host.name}, which cannot snapshot a running guest's "
            "disks: stop it to back it up"
        )
    return host.name


async def delete_backup(
    ctx: CommandContext, backup_id: UUID, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("backup.delete", "backup", backup_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        row = await backups.lock(conn, backup_id, op, {"BackedUp", "Error"})
        await backups.refuse_if_restoring(conn, backup_id)
        await backups.move(conn, backup_id, "Removing", op)
        inp = DeleteBackupInput(
            operation_id=op,
            files=await backups.files(conn, row),
            queue=ctx.settings.templates_queue,
        )
        flow = flows.DELETE_BACKUP.name
        return await _record(conn, intake, op, backup_id, "delete", flow, inp, row["zone_id"])

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"delete": str(backup_id)},
        build=build,
        resource=BACKUPS,
    )
