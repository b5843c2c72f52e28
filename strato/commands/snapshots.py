"""Snapshot commands: take, revert to, delete (each one operation, one workflow run).

A snapshot operation acts on its volume's file: it holds the volume's lock, and its VM's
when the volume is attached. A running guest's QEMU holds the image, so it takes (and
deletes) that disk's snapshots itself, on hosts that can. Refused here, with nothing
changed: a volume with no data yet, a running guest on a host that cannot snapshot live,
a revert while the VM runs, a snapshot not on the pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.commands.storage import operate
from strato.commands.view import Accepted
from strato.domain.errors import Conflict, InsufficientCapacity
from strato.domain.fabric.models import Host
from strato.domain.fields import Name, Request, Text
from strato.domain.states import SnapshotState, VmState, VolumeState
from strato.domain.storage import flows
from strato.domain.storage.backups import RestoreVolumeInput
from strato.domain.storage.models import Snapshot, Volume
from strato.domain.storage.payloads import (
    SnapshotOpInput,
    StoreKey,
    VolumeFromSnapshotInput,
    device_name,
)
from strato.domain.storage.templates import snapshot_key
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.storage import pools, snapshots, templates, volumes
from strato.schema.storage.snapshots import SNAPSHOTS
from strato.schema.tables import HOSTS

ON_PRIMARY = {SnapshotState.CREATED_ON_PRIMARY, SnapshotState.BACKED_UP}


class SnapshotCreate(Request):
    name: Name | None = None


class VolumeFromSnapshot(Request):
    name: Name
    owner: Text = ""


async def _lock_vm(conn: Any, vol: Volume, op: UUID, verb: str) -> UUID | None:
    """The volume's VM, locked for ``verb``. While it runs, its QEMU holds the image: a
    snapshot is taken or deleted by the hypervisor if its host can (``live_disk_snapshot``);
    a revert, or a host that cannot, refuses."""
    if vol.vm_id is None:
        return None
    allowed = frozenset({VmState.STOPPED, VmState.RUNNING})
    vm = await vms.acquire(conn, vol.vm_id, op, f"{verb}-snapshot", allowed)
    if vm.state == VmState.RUNNING:
        host: Host | None = await repository.get(conn, HOSTS, vm.host_id) if vm.host_id else None
        live = bool(host and host.capabilities.get("live_disk_snapshot"))
        if verb not in ("take", "delete") or not live:
            why = (
                f"a {verb} needs it stopped"
                if verb not in ("take", "delete")
                else (
                    f"its host {host.name if host else '?'} cannot snapshot a running guest's disk"
                )
            )
            raise Conflict(
                f"volume {vol.name} is in use by running VM {vm.name} ({why}): stop the VM "
                f"(or detach the volume) to {verb} its snapshots"
            )
    return vm.id


async def op_input(
    conn: Any,
    vol: Volume,
    snap: Snapshot,
    op: UUID,
    vm_id: UUID | None,
    templates_queue: str = "templates",
) -> SnapshotOpInput:
    """What a snapshot operation's run needs, read under the command's locks."""
    ctx = await volumes.context(conn, vol.id)
    backup = None
    if snap.backup_store_id is not None:
        store = await templates.store(conn, snap.backup_store_id)
        backup = StoreKey(store=store, key=snapshot_key(snap.id))
    return SnapshotOpInput(
        volume_id=snap.volume_id,
        operation_id=op,
        snapshot_id=snap.id,
        snapshot_name=snap.name,
        storage_name=snap.storage_name,
        vm_id=vm_id,
        volume_name=ctx.name,
        pool_name=ctx.pool_name,
        volume_state=str(vol.state),
        size_bytes=vol.size_bytes,
        has_file=vol.path is not None,
        device=device_name(vol.device_id) if vol.device_id is not None else None,
        snapshot_size_bytes=snap.size_bytes,
        backup=backup,
        templates_queue=templates_queue,
    )


async def create_snapshot(
    ctx: CommandContext,
    volume_id: UUID,
    body: SnapshotCreate | None,
    idempotency_key: str | None,
    *,
    kind: str = "MANUAL",
    policy_id: UUID | None = None,
) -> Accepted:
    """Take a snapshot (``kind`` and ``policy_id``: a recurring policy's)."""
    await ctx.authorize(Action("snapshot.create", "volume", volume_id))

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(conn, volume_id, op, "snapshot", {VolumeState.READY})
        vm_id = await _lock_vm(conn, vol, op, "take")
        snap_id = uuid4()
        now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        snap: Snapshot = await repository.insert(
            conn,
            SNAPSHOTS,
            {
                "id": snap_id,
                "name": (body.name if body and body.name else f"{vol.name}-{kind.lower()}-{now}"),
                "volume_id": vol.id,
                "zone_id": vol.zone_id,
                "owner": vol.owner,
                "storage_name": snapshots.storage_name(snap_id),
                "size_bytes": vol.size_bytes,
                "kind": kind,
                "policy_id": policy_id,
            },
            operation_id=op,
        )
        await ctx.take(conn, vol.owner, "snapshot")
        await snapshots.move(conn, snap_id, SnapshotState.CREATING, operation_id=op)
        await volumes.enter(conn, vol.id, VolumeState.SNAPSHOTTING, op)
        return vol, await op_input(conn, vol, snap, op, vm_id), snap_id

    return await operate(
        ctx,
        ("volume", volume_id),
        "snapshot",
        flows.CREATE_SNAPSHOT.name,
        body,
        idempotency_key,
        lock,
        resource=SNAPSHOTS,
        recorded_as="create",
    )


async def _snapshot_op(
    ctx: CommandContext,
    snapshot_id: UUID,
    verb: str,
    workflow: str,
    idempotency_key: str | None,
    *,
    volume_states: set[VolumeState],
    snapshot_states: set[SnapshotState],
) -> Accepted:
    await ctx.authorize(Action(f"snapshot.{verb}", "snapshot", snapshot_id))

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        snap = await snapshots.get(conn, snapshot_id)
        vol = await volumes.acquire(conn, snap.volume_id, op, f"{verb}-snapshot", volume_states)
        if verb == "delete":  # the volume first, then the snapshot: the others' order
            await snapshots.refuse_if_copied(conn, snapshot_id)  # its backup is read
        snap = await snapshots.get(conn, snapshot_id)  # as it is now, under the lock
        if snap.state not in snapshot_states:
            raise Conflict(
                f"snapshot {snap.name} is {snap.state} (can {verb} from: "
                f"{', '.join(sorted(snapshot_states))})"
            )
        vm_id = await _lock_vm(conn, vol, op, verb)
        if verb == "revert":
            await volumes.enter(conn, vol.id, VolumeState.REVERT_SNAPSHOTTING, op)
        else:
            await snapshots.move(conn, snap.id, SnapshotState.DESTROYING, operation_id=op)
        inp = await op_input(conn, vol, snap, op, vm_id, ctx.settings.templates_queue)
        return vol, inp, snapshot_id

    return await operate(
        ctx,
        ("snapshot", snapshot_id),
        verb,
        workflow,
        None,
        idempotency_key,
        lock,
        resource=SNAPSHOTS,
    )


async def revert_snapshot(
    ctx: CommandContext, snapshot_id: UUID, idempotency_key: str | None
) -> Accepted:
    return await _snapshot_op(
        ctx,
        snapshot_id,
        "revert",
        flows.REVERT_SNAPSHOT.name,
        idempotency_key,
        volume_states={VolumeState.READY},
        snapshot_states=ON_PRIMARY,
    )


async def delete_snapshot(
    ctx: CommandContext, snapshot_id: UUID, idempotency_key: str | None
) -> Accepted:
    return await _snapshot_op(
        ctx,
        snapshot_id,
        "delete",
        flows.DELETE_SNAPSHOT.name,
        idempotency_key,
        # Expunged: a backed-up snapshot outlives its volume; deleting it removes its
        # backup (the volume's row is locked for the operation, its file long gone).
        volume_states={
            VolumeState.READY,
            VolumeState.DESTROY,
            VolumeState.ERROR,
            VolumeState.EXPUNGED,
        },
        snapshot_states=ON_PRIMARY | {SnapshotState.ERROR},
    )


async def volume_from_snapshot(
    ctx: CommandContext, snapshot_id: UUID, body: VolumeFromSnapshot, idempotency_key: str | None
) -> Accepted:
    """A new volume from a snapshot, on its source's pool (a standalone copy); from its
    backup in the image store when its volume (whose file holds it) is gone."""
    await ctx.authorize(Action("snapshot.copy", "snapshot", snapshot_id))
    if body.owner:
        body = ctx.owned_by_caller(body)
    async with ctx.db.conn() as conn:
        snap = await snapshots.get(conn, snapshot_id)
        source = await repository.get(conn, volumes.VOLUMES, snap.volume_id)
    if source.state != VolumeState.READY and snap.state == SnapshotState.BACKED_UP:
        return await _volume_from_backup(ctx, snapshot_id, body, idempotency_key)

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        snap = await snapshots.get(conn, snapshot_id)
        if snap.state not in ON_PRIMARY:
            raise Conflict(f"snapshot {snap.name} is {snap.state}, not on its pool")
        src = await volumes.acquire(conn, snap.volume_id, op, "copy-snapshot", {VolumeState.READY})
        vm_id = await _lock_vm(conn, src, op, "copy")
        src_ctx = await volumes.context(conn, src.id)
        assert src.pool_id is not None and src_ctx.pool_name is not None
        new = await _new_volume(
            conn, op, body, src.zone_id, snap.size_bytes or src.size_bytes, src.owner
        )
        await _count_volume(ctx, conn, new)
        new_id = new.id
        if not await pools.claim_on(conn, new_id, src.pool_id, new.size_bytes):
            raise InsufficientCapacity(
                f"pool {src_ctx.pool_name} of volume {src.name} has no room for "
                f"{new.size_bytes} more bytes"
            )
        await volumes.enter(conn, new_id, VolumeState.CREATING, op)
        inp = VolumeFromSnapshotInput(
            volume_id=new_id,
            operation_id=op,
            source_volume_id=src.id,
            source_name=src_ctx.name,
            storage_name=snap.storage_name,
            name=volumes.storage_name(new_id),
            pool_name=src_ctx.pool_name,
            vm_id=vm_id,
        )
        return new, inp, new_id

    return await operate(
        ctx,
        ("snapshot", snapshot_id),
        "copy",
        flows.VOLUME_FROM_SNAPSHOT.name,
        body,
        idempotency_key,
        lock,
        resource=volumes.VOLUMES,
        recorded_as="create",
    )


async def _volume_from_backup(
    ctx: CommandContext, snapshot_id: UUID, body: VolumeFromSnapshot, idempotency_key: str | None
) -> Accepted:
    """A new volume on a pool of the zone, copied from the snapshot's backup
    (RestoreBackupVolume's copy). The new volume names the snapshot: a delete of the
    snapshot is refused until the copy is done."""

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        snap = await snapshots.get(conn, snapshot_id, share=True)
        if snap.state != SnapshotState.BACKED_UP or snap.backup_path is None:
            raise Conflict(
                f"snapshot {snap.name} is {snap.state}: its volume is gone and it has no "
                "backup to make a volume from"
            )
        src: Volume = await repository.get(conn, volumes.VOLUMES, snap.volume_id)
        new = await _new_volume(conn, op, body, snap.zone_id, src.size_bytes, snap.owner)
        await _count_volume(ctx, conn, new)
        new_id = new.id
        pool = await pools.claim_in_zone(conn, new_id, snap.zone_id, src.id, src.size_bytes)
        await snapshots.copying_from(conn, snap.id, new_id)
        await volumes.enter(conn, new_id, VolumeState.CREATING, op)
        inp = RestoreVolumeInput(
            volume_id=new_id,
            operation_id=op,
            name=volumes.storage_name(new_id),
            pool=pool,
            source=snap.backup_path,
            size_bytes=src.size_bytes,
        )
        return new, inp, new_id

    return await operate(
        ctx,
        ("snapshot", snapshot_id),
        "copy",
        flows.RESTORE_BACKUP_VOLUME.name,
        body,
        idempotency_key,
        lock,
        resource=volumes.VOLUMES,
        recorded_as="create",
    )


async def _count_volume(ctx: CommandContext, conn: Any, vol: Volume) -> None:
    await ctx.take(conn, vol.owner, "volume")
    await ctx.take(conn, vol.owner, "primary_storage", vol.size_bytes)


async def _new_volume(
    conn: Any, op: UUID, body: VolumeFromSnapshot, zone_id: UUID, size: int, owner: str
) -> Volume:
    """The new data volume's row, Allocated, locked for the operation making it."""
    new_id = uuid4()
    values = {
        "id": new_id,
        "name": body.name,
        "zone_id": zone_id,
        "kind": "DATADISK",
        "size_bytes": size,
        "owner": body.owner or owner,
    }
    await repository.insert(conn, volumes.VOLUMES, values, operation_id=op)
    return await volumes.acquire(conn, new_id, op, "create", {VolumeState.ALLOCATED})
