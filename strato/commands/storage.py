"""Volume commands: create (a record), and the operations on a volume (each one operation,
one workflow run): attach, detach, resize, destroy, recover, expunge.

An operation takes the volume's lock and, when it changes a VM's devices (attach, detach,
resize of an attached volume), the VM's too, in the transaction that records it. What
can be known here is refused here, with nothing changed: a volume of another zone, a pool
the VM cannot reach, a device taken, a shrink without ``shrink_ok``, an attached volume
to destroy, a pool without room for the new size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute.models import Vm
from strato.domain.errors import Conflict, InsufficientCapacity, InvalidInput, NotFound
from strato.domain.fields import Name, Request, Text
from strato.domain.states import OfferingState, VmState, VolumeState
from strato.domain.storage import flows
from strato.domain.storage.models import DiskOffering, Volume
from strato.domain.storage.payloads import (
    AttachVolumeInput,
    DestroyVolumeInput,
    DetachVolumeInput,
    ExpungeVolumeInput,
    ResizeVolumeInput,
    VolumeRef,
    device_name,
)
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.compute.vms import VMS
from strato.schema.operations import OperationRecord
from strato.schema.repository import TableSpec
from strato.schema.storage import pools, volumes
from strato.schema.storage.volumes import VOLUMES
from strato.schema.tables import DISK_OFFERINGS, ZONES

GiB = 1 << 30
MAX_GB = 64 * 1024


class VolumeCreate(Request):
    name: Name
    zone_id: UUID
    disk_offering_id: UUID | None = None
    size_gb: int | None = Field(default=None, gt=0, le=MAX_GB)
    owner: Text = ""


class VolumeAttach(Request):
    vm_id: UUID
    device_id: int | None = Field(default=None, ge=1, le=volumes.MAX_DEVICE)


class VolumeResize(Request):
    size_gb: int = Field(gt=0, le=MAX_GB)
    shrink_ok: bool = False


class VolumeDestroy(Request):
    expunge: bool = False


async def create_volume(ctx: CommandContext, body: VolumeCreate) -> Volume:
    """An Allocated data volume: its file is made on its first attach, on a pool the
    VM reaches (CloudStack's lazy allocation)."""
    await ctx.authorize(Action("volume.create", "volume"))
    body = ctx.owned_by_caller(body)
    async with ctx.db.tx() as conn:
        try:
            await repository.get(conn, ZONES, body.zone_id)
        except NotFound as err:
            raise InvalidInput(f"zone_id: {err.detail}", field="zone_id") from err
        size_gb = await _size_gb(conn, body)
        vol_id = uuid4()
        vol: Volume = await repository.insert(
            conn,
            VOLUMES,
            {
                "id": vol_id,
                "name": body.name,
                "zone_id": body.zone_id,
                "kind": "DATADISK",
                "size_bytes": size_gb * GiB,
                "disk_offering_id": body.disk_offering_id,
                "owner": body.owner,
            },
        )
        await ctx.take(conn, vol.owner, "volume")
        await ctx.take(conn, vol.owner, "primary_storage", vol.size_bytes)
        return vol


async def _size_gb(conn: Any, body: VolumeCreate) -> int:
    if body.disk_offering_id is None:
        if body.size_gb is None:
            raise InvalidInput("give a disk_offering_id or a size_gb", field="size_gb")
        return body.size_gb
    try:
        off: DiskOffering = await repository.get(conn, DISK_OFFERINGS, body.disk_offering_id)
    except NotFound as err:
        raise InvalidInput(f"disk_offering_id: {err.detail}", field="disk_offering_id") from err
    if off.state != OfferingState.ACTIVE:
        raise InvalidInput(
            f"disk_offering_id: offering {off.name} is {off.state}", field="disk_offering_id"
        )
    if off.custom_size:
        if body.size_gb is None:
            raise InvalidInput(
                f"disk offering {off.name} has a custom size: give size_gb", field="size_gb"
            )
        return body.size_gb
    if body.size_gb is not None and body.size_gb != off.size_gb:
        raise InvalidInput(
            f"disk offering {off.name} is {off.size_gb} GiB; size_gb cannot change it",
            field="size_gb",
        )
    assert off.size_gb is not None
    return off.size_gb


# Takes the operation's locks, checks, and returns the volume, the workflow's input and
# the id of the resource the operation is about (the volume, or a snapshot of it).
Lock = Callable[[Any, UUID], Awaitable[tuple[Volume, BaseModel, UUID]]]


async def operate(
    ctx: CommandContext,
    target: tuple[str, UUID],
    verb: str,
    workflow: str,
    body: BaseModel | None,
    idempotency_key: str | None,
    lock: Lock,
    resource: TableSpec[Any] = VOLUMES,
    recorded_as: str | None = None,
) -> Accepted:
    """Authorize ``verb`` on ``target`` (kind, id), lock (``lock``), record (as
    ``<resource>.<recorded_as or verb>``), start."""
    kind, target_id = target
    await ctx.authorize(Action(f"{kind}.{verb}", kind, target_id))
    request_body = {
        "verb": verb,
        kind: str(target_id),
        **(body.model_dump(mode="json") if body else {}),
    }

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op_id = uuid4()
        vol, inp, resource_id = await lock(conn, op_id)
        return await intake.record(
            conn,
            operation_id=op_id,
            resource_type=resource.resource_type,
            resource_id=resource_id,
            verb=recorded_as or verb,
            workflow_type=workflow,
            input=inp,
            attributes={"StratoZone": str(vol.zone_id), "StratoOwner": vol.owner},
        )

    return await ctx.run(
        idempotency_key=idempotency_key, request_body=request_body, build=build, resource=resource
    )


def _data_only(vol: Volume, what: str) -> None:
    if vol.kind != "DATADISK":
        raise InvalidInput(f"volume {vol.name} is the root volume of its VM: {what}")


async def _vm(conn: Any, vm_id: UUID) -> Vm:
    try:
        vm: Vm = await repository.get(conn, VMS, vm_id)
    except NotFound as err:
        raise InvalidInput(f"vm_id: {err.detail}", field="vm_id") from err
    return vm


async def _vm_cluster(conn: Any, vm: Vm) -> tuple[UUID | None, str]:
    """The cluster the VM's disks must be reachable from: its host's while it runs, else
    its root pool's (None: anywhere in the zone), and what that is, for messages."""
    reach = await volumes.reach_of(conn, vm.host_id, vm.root_volume_id)
    if reach is None:
        raise Conflict(
            f"VM {vm.name} has never been started: its disks have no pool yet; "
            "start it (or deploy it started), then attach"
        )
    return reach


async def attach_volume(
    ctx: CommandContext, volume_id: UUID, body: VolumeAttach, idempotency_key: str | None
) -> Accepted:
    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(
            conn, volume_id, op, "attach", {VolumeState.ALLOCATED, VolumeState.READY}
        )
        _data_only(vol, "it cannot be attached elsewhere")
        if vol.vm_id is not None:
            raise Conflict(f"volume {vol.name} is attached to VM {vol.vm_id} already")
        vm = await _vm(conn, body.vm_id)
        if vm.zone_id != vol.zone_id:
            raise InvalidInput(
                f"vm_id: volume {vol.name} is in zone {vol.zone_id}, VM {vm.name} in zone "
                f"{vm.zone_id}",
                field="vm_id",
            )
        vm = await vms.acquire(
            conn, vm.id, op, "attach-volume", frozenset({VmState.RUNNING, VmState.STOPPED})
        )
        cluster, where = await _vm_cluster(conn, vm)
        if vol.pool_id is not None:
            name, pool_cluster = await pools.scope_of(conn, vol.pool_id)
            pinned = await volumes.pinned_clusters(conn, vm.id)
            if pool_cluster is not None and pinned and pool_cluster not in pinned:
                raise InvalidInput(
                    f"vm_id: volume {vol.name} is on pool {name}, in another cluster than "
                    f"the pools holding VM {vm.name}'s disks ({', '.join(pinned.values())})",
                    field="vm_id",
                )
            if cluster is not None and pool_cluster is not None and pool_cluster != cluster:
                raise InvalidInput(
                    f"vm_id: volume {vol.name} is on pool {name}, which {where} of "
                    f"VM {vm.name} cannot reach (another cluster)",
                    field="vm_id",
                )
        device = await _device(conn, vm, body.device_id)
        inp = AttachVolumeInput(volume_id=volume_id, operation_id=op, vm_id=vm.id, device_id=device)
        return vol, inp, volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "attach",
        flows.ATTACH_VOLUME.name,
        body,
        idempotency_key,
        lock,
    )


async def _device(conn: Any, vm: Vm, wanted: int | None) -> int:
    if wanted is not None:
        taken = await volumes.at_device(conn, vm.id, wanted)
        if taken is not None:
            raise Conflict(f"device {device_name(wanted)} of VM {vm.name} holds volume {taken}")
        return wanted
    free = await volumes.free_device(conn, vm.id)
    if free is None:
        raise Conflict(f"VM {vm.name} has no free disk device (vdb..vdz are taken)")
    return free


async def detach_volume(
    ctx: CommandContext, volume_id: UUID, idempotency_key: str | None
) -> Accepted:
    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(
            conn,
            volume_id,
            op,
            "detach",
            {VolumeState.ALLOCATED, VolumeState.READY, VolumeState.ERROR},
        )
        _data_only(vol, "it goes with its VM")
        if vol.vm_id is None:
            raise Conflict(f"volume {vol.name} is not attached to a VM")
        allowed = {VmState.RUNNING, VmState.STOPPED, VmState.DESTROYED, VmState.ERROR}
        await vms.acquire(conn, vol.vm_id, op, "detach-volume", frozenset(allowed))
        inp = DetachVolumeInput(volume_id=volume_id, operation_id=op, vm_id=vol.vm_id)
        return vol, inp, volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "detach",
        flows.DETACH_VOLUME.name,
        None,
        idempotency_key,
        lock,
    )


async def resize_volume(
    ctx: CommandContext, volume_id: UUID, body: VolumeResize, idempotency_key: str | None
) -> Accepted:
    new = body.size_gb * GiB

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(
            conn, volume_id, op, "resize", {VolumeState.ALLOCATED, VolumeState.READY}
        )
        if new == vol.size_bytes:
            raise InvalidInput(f"volume {vol.name} is {body.size_gb} GiB already", field="size_gb")
        if new < vol.size_bytes and not body.shrink_ok:
            raise InvalidInput(
                f"size_gb: {body.size_gb} GiB is smaller than volume {vol.name} "
                f"({vol.size_bytes} bytes); shrinking loses the data past the new end: "
                "give shrink_ok to do it anyway",
                field="size_gb",
            )
        if vol.vm_id is not None:
            vm = await vms.acquire(
                conn,
                vol.vm_id,
                op,
                "resize-volume",
                frozenset({VmState.RUNNING, VmState.STOPPED}),
            )
            if vm.state == VmState.RUNNING and new < vol.size_bytes:
                raise Conflict(
                    f"a disk of running VM {vm.name} can only grow: stop it to shrink "
                    f"volume {vol.name}"
                )
        if not await pools.resize_claim(conn, volume_id, new):
            raise InsufficientCapacity(
                f"the pool of volume {vol.name} has no room for {new - vol.size_bytes} more bytes"
            )
        if new > vol.size_bytes:
            await ctx.take(conn, vol.owner, "primary_storage", new - vol.size_bytes)
        inp = ResizeVolumeInput(
            volume_id=volume_id,
            operation_id=op,
            size_bytes=new,
            old_size_bytes=vol.size_bytes,
            shrink_ok=body.shrink_ok,
            vm_id=vol.vm_id,
        )
        return vol, inp, volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "resize",
        flows.RESIZE_VOLUME.name,
        body,
        idempotency_key,
        lock,
    )


async def destroy_volume(
    ctx: CommandContext, volume_id: UUID, body: VolumeDestroy | None, idempotency_key: str | None
) -> Accepted:
    expunge = bool(body and body.expunge)

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        allowed = {VolumeState.ALLOCATED, VolumeState.READY, VolumeState.ERROR}
        vol = await volumes.acquire(conn, volume_id, op, "destroy", allowed)
        _data_only(vol, "destroy its VM")
        if vol.vm_id is not None:
            raise Conflict(f"volume {vol.name} is attached to VM {vol.vm_id}: detach it first")
        inp = DestroyVolumeInput(
            volume_id=volume_id,
            operation_id=op,
            expunge=expunge,
            expunge_delay_s=ctx.settings.expunge_delay_s,
        )
        return vol, inp, volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "destroy",
        flows.DESTROY_VOLUME.name,
        body,
        idempotency_key,
        lock,
    )


async def recover_volume(
    ctx: CommandContext, volume_id: UUID, idempotency_key: str | None
) -> Accepted:
    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(conn, volume_id, op, "recover", {VolumeState.DESTROY})
        await ctx.take(conn, vol.owner, "volume", pending=True)  # it counts again
        await ctx.take(conn, vol.owner, "primary_storage", vol.size_bytes, pending=True)
        return vol, VolumeRef(volume_id=volume_id, operation_id=op), volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "recover",
        flows.RECOVER_VOLUME.name,
        None,
        idempotency_key,
        lock,
    )


async def expunge_volume(
    ctx: CommandContext, volume_id: UUID, idempotency_key: str | None
) -> Accepted:
    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(conn, volume_id, op, "expunge", {VolumeState.DESTROY})
        inp = ExpungeVolumeInput(volume_id=volume_id, operation_id=op, delay_s=0)
        return vol, inp, volume_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "expunge",
        flows.EXPUNGE_VOLUME.name,
        None,
        idempotency_key,
        lock,
    )
