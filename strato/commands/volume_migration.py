"""MigrateVolume: a volume's file moves to another pool of its zone; with its VM running,
live (the host's QEMU mirrors the disk, the guest runs on).

Refused here, with nothing changed: the pool it is on, a pool of another zone or of
another driver, a pool the VM could not reach with its other disks, a VM neither Stopped
nor Running, a running VM on a host that cannot move a disk live (``live_block_copy``) or
whose volume has snapshots (a live move does not carry them: stop the VM), a volume with
no file yet or busy, a target without room (the claim moves to the target in this
transaction: the room is reserved before anything is copied).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.commands.storage import operate
from strato.commands.view import Accepted
from strato.domain.compute.models import Vm
from strato.domain.errors import Conflict, InsufficientCapacity, InvalidInput, NotFound
from strato.domain.fabric.models import Host
from strato.domain.fields import Request
from strato.domain.states import VmState, VolumeState
from strato.domain.storage import flows
from strato.domain.storage.models import StoragePool, Volume
from strato.domain.storage.payloads import MigrateVolumeInput, device_name
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.storage import pools, snapshots, volumes
from strato.schema.tables import HOSTS, STORAGE_POOLS


class VolumeMigrate(Request):
    pool_id: UUID


async def _target(conn: Any, vol: Volume, pool_id: UUID) -> StoragePool:
    assert vol.pool_id is not None
    try:
        target: StoragePool = await repository.get(conn, STORAGE_POOLS, pool_id)
    except NotFound as err:
        raise InvalidInput(f"pool_id: {err.detail}", field="pool_id") from err
    source: StoragePool = await repository.get(conn, STORAGE_POOLS, vol.pool_id)
    why = None
    if target.id == source.id:
        why = f"volume {vol.name} is on pool {target.name} already"
    elif target.zone_id != vol.zone_id:
        why = f"pool {target.name} is in another zone"
    elif target.driver != source.driver:
        why = f"pool {target.name} is a {target.driver} pool, the volume's a {source.driver} one"
    if why:
        raise InvalidInput(f"pool_id: {why}", field="pool_id")
    return target


async def _reachable(conn: Any, vol: Volume, target: StoragePool) -> None:
    """The VM's other disks pin it to a cluster: the target must be in it (or zone-wide)."""
    if vol.vm_id is None or target.scope == "zone":
        return
    pinned = await volumes.pinned_clusters(conn, vol.vm_id, excluding=vol.id)
    if pinned and target.cluster_id not in pinned:
        names = ", ".join(sorted(pinned.values()))
        raise InvalidInput(
            f"pool_id: pool {target.name} is in another cluster than the VM's other disks "
            f"(on {names}): the VM could not start with them",
            field="pool_id",
        )


async def _live(conn: Any, vm: Vm, vol: Volume, target: StoragePool) -> dict[str, Any]:
    """How a running VM's disk moves: its host's QEMU mirrors it (``live_block_copy``),
    if the volume has no snapshots (they stay in the old file)."""
    host: Host | None = await repository.get(conn, HOSTS, vm.host_id) if vm.host_id else None
    if host is None or not host.capabilities.get("live_block_copy"):
        where = f"host {host.name}" if host else "no host"
        raise Conflict(
            f"volume {vol.name} is attached to VM {vm.name}, running on {where}, which cannot "
            "move a running guest's disk (capability live_block_copy): stop the VM to migrate"
        )
    if target.scope != "zone" and target.cluster_id != host.cluster_id:
        raise InvalidInput(
            f"pool_id: pool {target.name} is not reachable from host {host.name}, where VM "
            f"{vm.name} runs (another cluster)",
            field="pool_id",
        )
    n = await snapshots.live_count(conn, vol.id)
    if n:
        raise Conflict(
            f"volume {vol.name} has {n} snapshot(s), which a live migration would not carry: "
            f"delete them, or stop VM {vm.name} (a stopped migration copies them)"
        )
    return {
        "live_host": host.name,
        "hypervisor_name": vms.hypervisor_name(vm.id),
        "device": device_name(0 if vol.kind == "ROOT" else (vol.device_id or 0)),
    }


async def migrate_volume(
    ctx: CommandContext, volume_id: UUID, body: VolumeMigrate, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("volume.migrate", "volume", volume_id))

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        vol = await volumes.acquire(conn, volume_id, op, "migrate", {VolumeState.READY})
        if vol.pool_id is None or vol.path is None:
            raise Conflict(f"volume {vol.name} has no file yet: attach it first")
        target = await _target(conn, vol, body.pool_id)
        await _reachable(conn, vol, target)
        vm_id, live = None, {}
        if vol.vm_id is not None:
            vm = await vms.acquire(conn, vol.vm_id, op, "migrate-volume", frozenset(VmState))
            if vm.state == VmState.RUNNING:
                live = await _live(conn, vm, vol, target)
            elif vm.state != VmState.STOPPED:
                raise Conflict(
                    f"volume {vol.name} is attached to VM {vm.name}, which is {vm.state}: "
                    "stop it (or detach the volume) to migrate the volume"
                )
            if vol.kind == "ROOT" and vm.iso_id is not None:
                # Its ISO's copy is on the root's pool: the VM would boot without it.
                raise Conflict(f"VM {vm.name} has an ISO attached: detach it first")
            vm_id = vm.id
        vctx = await volumes.context(conn, vol.id)
        if not await pools.move_claim(conn, vol.id, target.id):
            raise InsufficientCapacity(
                f"pool {target.name} has no room for volume {vol.name} ({vol.size_bytes} bytes)"
            )
        await volumes.enter(conn, vol.id, VolumeState.MIGRATING, op)
        stored = await volumes.stored_template(conn, vol.id)
        inp = MigrateVolumeInput(
            volume_id=vol.id,
            operation_id=op,
            vm_id=vm_id,
            name=vctx.name,
            source_pool_id=vol.pool_id,
            source_pool=vctx.pool_name or "",
            source_path=vol.path,
            target_pool_id=target.id,
            target_pool=target.name,
            size_bytes=vol.size_bytes,
            template_id=stored,
            **live,
        )
        return vol, inp, vol.id

    return await operate(
        ctx,
        ("volume", volume_id),
        "migrate",
        flows.MIGRATE_VOLUME.name,
        body,
        idempotency_key,
        lock,
    )
