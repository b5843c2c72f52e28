"""VM snapshots (CloudStack's createVMSnapshot, revertToVMSnapshot, deleteVMSnapshot): each
one operation under the VM's lock, the VM Running or Stopped.

Refused here, with nothing changed: a snapshot with memory of a stopped VM (it has none),
a running VM whose host cannot do what is asked (``snapshot_memory`` for one with memory,
``live_disk_snapshot`` for disks only: stop the VM), a VM whose root volume has no file
yet (start it once) or with a volume that is not Ready, a name the VM has already, more
than ``vm_snapshot_max`` snapshots, reverting a running VM to a snapshot without memory
(stop it first), a snapshot that is not Ready (revert) or busy.

While a VM has snapshots it keeps its disks and its offering: attaching, detaching,
resizing or migrating its volumes and scaling it are refused
(:data:`strato.schema.compute.vm_snapshots.KEEP_DISKS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from strato.commands.auth import Action
from strato.commands.compute import search_attributes
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute import flows
from strato.domain.compute.models import Vm, VmSnapshot
from strato.domain.compute.vm_snapshots import How, VmSnapshotDisk, VmSnapshotInput, snapshot_tag
from strato.domain.errors import Conflict, InvalidInput
from strato.domain.fabric.models import Host
from strato.domain.fields import Name, Request, Text
from strato.domain.states import VmSnapshotState, VmState
from strato.domain.storage.payloads import device_name
from strato.schema import repository
from strato.schema.compute import vm_snapshots, vms
from strato.schema.compute.vm_snapshots import VM_SNAPSHOTS
from strato.schema.operations import OperationRecord
from strato.schema.storage import volumes
from strato.schema.tables import HOSTS

_AT_REST = frozenset({VmState.RUNNING, VmState.STOPPED})


class VmSnapshotCreate(Request):
    name: Name | None = None  # else one made of the time
    description: Text = ""
    # With the running VM's memory and device state (CloudStack's snapshotmemory): a
    # revert then resumes the VM where it was.
    memory: bool = False


async def create(
    ctx: CommandContext, vm_id: UUID, body: VmSnapshotCreate, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("vm.snapshot", "vm", vm_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op, snap_id = uuid4(), uuid4()
        vm = await vms.acquire(conn, vm_id, op, "snapshot", _AT_REST)
        if vm.state == VmState.STOPPED and body.memory:
            raise InvalidInput(
                f"memory: VM {vm.name} is Stopped, it has no memory to snapshot", field="memory"
            )
        how, host = await _how(conn, vm, "memory" if body.memory else "live", "snapshot")
        limit = ctx.settings.vm_snapshot_max
        if await vm_snapshots.count(conn, vm.id) >= limit:
            raise Conflict(
                f"VM {vm.name} has {limit} VM snapshots, the most it may have: delete one first"
            )
        disks = await _disks(conn, vm)
        name = body.name or f"{vm.name}-{snap_id.hex[:8]}"
        await repository.insert(
            conn,
            VM_SNAPSHOTS,
            {
                "id": snap_id,
                "vm_id": vm.id,
                "name": name,
                "description": body.description,
                "memory": body.memory,
                "tag": snapshot_tag(snap_id),
                "vm_state": str(vm.state),
                "state": VmSnapshotState.CREATING,
                "disks": [d.model_dump(mode="json") for d in disks],
                "current_operation_id": op,
            },
            operation_id=op,
        )
        await ctx.take(conn, vm.owner, "vm_snapshot")
        inp = _input(vm, op, snap_id, snapshot_tag(snap_id), how, host, disks)
        return await _record(
            conn, intake, vm, op, snap_id, "create", flows.CREATE_VM_SNAPSHOT.name, inp
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"vm-snapshot": str(vm_id), **body.model_dump(mode="json")},
        build=build,
        resource=VM_SNAPSHOTS,
    )


async def revert(ctx: CommandContext, snapshot_id: UUID, idempotency_key: str | None) -> Accepted:
    def check(vm: Vm, snap: VmSnapshot) -> None:
        if vm.state == VmState.RUNNING and not snap.memory:
            raise Conflict(
                f"VM snapshot {snap.name} holds VM {vm.name}'s disks only: stop the VM to "
                "revert to it"
            )

    return await _operate(
        ctx,
        snapshot_id,
        idempotency_key,
        verb="revert",
        allowed={VmSnapshotState.READY},
        moving_to=VmSnapshotState.REVERTING,
        flow=flows.REVERT_VM_SNAPSHOT.name,
        check=check,
    )


async def delete(ctx: CommandContext, snapshot_id: UUID, idempotency_key: str | None) -> Accepted:
    # A running VM's hypervisor deletes a whole-machine snapshot from every disk; its QEMU
    # deletes a disks-only one disk by disk where it cannot.
    return await _operate(
        ctx,
        snapshot_id,
        idempotency_key,
        verb="delete",
        allowed={VmSnapshotState.READY, VmSnapshotState.ERROR},
        moving_to=VmSnapshotState.EXPUNGING,
        flow=flows.DELETE_VM_SNAPSHOT.name,
        check=lambda vm, snap: None,
    )


async def _operate(
    ctx: CommandContext,
    snapshot_id: UUID,
    idempotency_key: str | None,
    *,
    verb: str,
    allowed: set[VmSnapshotState],
    moving_to: VmSnapshotState,
    flow: str,
    check: Callable[[Vm, VmSnapshot], None],
) -> Accepted:
    """A revert or a delete: the snapshot and its VM locked, the snapshot moved, the
    operation recorded, in one transaction."""
    await ctx.authorize(Action(f"vm-snapshot.{verb}", "vm_snapshot", snapshot_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        snap = await vm_snapshots.lock(conn, snapshot_id, allowed)
        vm = await vms.acquire(conn, snap.vm_id, op, f"{verb}-snapshot", _AT_REST)
        check(vm, snap)
        how, host = await _how(conn, vm, "memory", "revert to" if verb == "revert" else verb)
        await vm_snapshots.move(conn, snap.id, moving_to, op)
        inp = _input(vm, op, snap.id, snap.tag, how, host, _recorded(snap))
        inp.from_state = str(snap.state)
        return await _record(conn, intake, vm, op, snap.id, verb, flow, inp)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={verb: str(snapshot_id)},
        build=build,
        resource=VM_SNAPSHOTS,
    )


async def _how(conn: Any, vm: Vm, wanted: How, doing: str) -> tuple[How, str | None]:
    """How the snapshot is acted on, and the running VM's host: a stopped VM's pools act
    on its disks' files; a running VM's host does it if it can (``wanted``: with the
    memory, ``memory``; its disks alone, at one instant, ``live``), else ``live`` for a
    delete."""
    if vm.state == VmState.STOPPED:
        return "pools", None
    host: Host | None = await repository.get(conn, HOSTS, vm.host_id) if vm.host_id else None
    if host is None:
        raise Conflict(f"VM {vm.name} is Running on no host: it cannot be acted on now")
    can_memory = bool(host.capabilities.get("snapshot_memory"))
    can_live = bool(host.capabilities.get("live_disk_snapshot"))
    if wanted == "memory" and can_memory:
        return "memory", host.name
    if can_live and (wanted == "live" or doing == "delete"):
        return "live", host.name
    what = "with its memory" if wanted == "memory" else "of its disks alone"
    raise Conflict(
        f"VM {vm.name} runs on host {host.name}, which cannot {doing} a VM snapshot {what}"
        f" (capability {'snapshot_memory' if wanted == 'memory' else 'live_disk_snapshot'}):"
        " stop the VM"
    )


async def _disks(conn: Any, vm: Vm) -> list[VmSnapshotDisk]:
    """The VM's volumes that have a file (a data volume never attached to a running VM
    has none yet), each Ready; its root first."""
    found = []
    for v in await volumes.for_vm(conn, vm.id):
        c = await volumes.context(conn, v.id)
        if c.path is None or c.pool_name is None:
            if v.kind == "ROOT":
                raise Conflict(f"VM {vm.name}'s root volume is not on a pool yet: start it once")
            continue
        if c.state != "Ready":
            raise Conflict(f"volume {v.name} of VM {vm.name} is {c.state}, not Ready")
        device = device_name(0 if v.kind == "ROOT" else (v.device_id or 0))
        found.append(VmSnapshotDisk(volume_id=v.id, name=c.name, pool=c.pool_name, device=device))
    return sorted(found, key=lambda d: d.device)


def _recorded(snap: VmSnapshot) -> list[VmSnapshotDisk]:
    return [VmSnapshotDisk.model_validate(d) for d in snap.disks]


def _input(
    vm: Vm,
    op: UUID,
    snap_id: UUID,
    tag: str,
    how: How,
    host: str | None,
    disks: list[VmSnapshotDisk],
) -> VmSnapshotInput:
    return VmSnapshotInput(
        vm_id=vm.id,
        operation_id=op,
        vm_snapshot_id=snap_id,
        tag=tag,
        how=how,
        host=host,
        hypervisor_name=vms.hypervisor_name(vm.id),
        disks=disks,
    )


async def _record(
    conn: Any,
    intake: Intake,
    vm: Vm,
    op: UUID,
    snap_id: UUID,
    verb: str,
    flow: str,
    inp: VmSnapshotInput,
) -> OperationRecord:
    return await intake.record(
        conn,
        operation_id=op,
        resource_type="vm_snapshot",
        resource_id=snap_id,
        verb=verb,
        workflow_type=flow,
        input=inp,
        attributes=search_attributes(vm),
    )
