"""Volume rows: root volumes follow their VM; data volumes have operations of their own.

A data volume's operation (attach, detach, resize, destroy, recover, expunge) holds the
volume's lock (``current_operation_id``) from the command to its last step, like a VM's;
attach and detach hold the VM's lock as well, so nothing boots, stops or moves the VM
while its devices change. Attachment is the pair (``vm_id``, ``device_id``), set and
cleared by an operation's last step together with its event.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any
from uuid import UUID

from strato.domain.compute.specs import DiskSpec
from strato.domain.errors import Conflict, IllegalTransition, NotFound
from strato.domain.states import VOLUME_STATE, SnapshotState, VolumeState
from strato.domain.storage.models import Volume
from strato.domain.storage.payloads import (
    VolumeBeginInput,
    VolumeContext,
    VolumeFinishInput,
    device_name,
)
from strato.schema import events
from strato.schema.repository import TableSpec
from strato.schema.storage import pools, snapshots
from strato.schema.transitions import VOLUME, transition

VOLUMES = TableSpec(
    "volumes",
    "volume",
    Volume,
    references={"zone_id": "zone", "pool_id": "storage pool", "vm_id": "VM"},
    dependents={"pool_claims": "a storage claim"},
    owner="owner",
)
MAX_DEVICE = 25  # vdz


def storage_name(volume_id: UUID) -> str:
    return f"strato-vol-{volume_id}"


async def set_state(
    conn: Any, volume_id: UUID, state: VolumeState, *, path: str | None = None
) -> None:
    """Move the volume to ``state`` (writing its new ``path``, if given)."""
    await transition(conn, VOLUME, volume_id, state, columns={"path": path} if path else None)


async def for_vm(conn: Any, vm_id: UUID) -> list[Volume]:
    rows = await conn.fetch("SELECT * FROM volumes WHERE vm_id = $1 ORDER BY created_at", vm_id)
    return [VOLUMES.to_model(r) for r in rows]


async def roots_of(conn: Any, vm_id: UUID) -> list[Volume]:
    """The VM's root volume (a list: none before the deploy wrote it)."""
    rows = await conn.fetch(
        "SELECT * FROM volumes WHERE vm_id = $1 AND kind = 'ROOT' ORDER BY created_at", vm_id
    )
    return [VOLUMES.to_model(r) for r in rows]


async def data_disks(conn: Any, vm_id: UUID) -> list[DiskSpec]:
    """The data volumes attached to the VM that have a file, by device: a boot defines them."""
    rows = await conn.fetch(
        """SELECT device_id, path, format FROM volumes
           WHERE vm_id = $1 AND kind = 'DATADISK' AND path IS NOT NULL
             AND state NOT IN ('Allocated', 'Expunged') ORDER BY device_id""",
        vm_id,
    )
    return [
        DiskSpec(path=r["path"], device=device_name(r["device_id"]), format=r["format"])
        for r in rows
    ]


async def detach_all_data(conn: Any, vm_id: UUID, operation_id: UUID | None) -> None:
    """A VM being expunged lets its data volumes go: they stay, detached (CloudStack's
    default), each with its event."""
    rows = await conn.fetch(
        """SELECT id, device_id AS device FROM volumes
           WHERE vm_id = $1 AND kind = 'DATADISK' ORDER BY device_id FOR UPDATE""",
        vm_id,
    )
    await conn.execute(
        """UPDATE volumes SET vm_id = NULL, device_id = NULL, version = version + 1,
                              updated_at = clock_timestamp()
           WHERE vm_id = $1 AND kind = 'DATADISK'""",
        vm_id,
    )
    for r in rows:
        device = device_name(r["device"]) if r["device"] is not None else None
        await events.append(
            conn,
            "strato.volume.detached",
            "volume",
            r["id"],
            operation_id=operation_id,
            payload={"vm_id": str(vm_id), "device": device},
        )


async def pinned_clusters(conn: Any, vm_id: UUID, excluding: UUID | None = None) -> dict[UUID, str]:
    """Clusters whose pools hold files of the VM's volumes (cluster id -> a pool's name),
    but ``excluding``'s: the VM can only run on a host of such a cluster, and of one
    cluster if there is one."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (p.cluster_id) p.cluster_id, p.name FROM volumes v
           JOIN storage_pools p ON p.id = v.pool_id
           WHERE v.vm_id = $1 AND p.scope = 'cluster' AND v.path IS NOT NULL
             AND v.state NOT IN ('Allocated', 'Expunged')
             AND v.id IS DISTINCT FROM $2""",
        vm_id,
        excluding,
    )
    return {r["cluster_id"]: r["name"] for r in rows}


async def stored_template(conn: Any, volume_id: UUID) -> UUID | None:
    """The template a root volume is a clone of, when the template service keeps it (the
    clone's backing file is that template's copy on the volume's pool)."""
    found: UUID | None = await conn.fetchval(
        """SELECT t.id FROM volumes v JOIN templates t ON t.id = v.template_id
           WHERE v.id = $1 AND v.kind = 'ROOT' AND t.stored""",
        volume_id,
    )
    return found


async def free_device(conn: Any, vm_id: UUID) -> int | None:
    """The VM's lowest free data device number (1: vdb), None when all are taken."""
    used = {
        r["device_id"]
        for r in await conn.fetch(
            "SELECT device_id FROM volumes WHERE vm_id = $1 AND device_id IS NOT NULL", vm_id
        )
    }
    return next((n for n in range(1, MAX_DEVICE + 1) if n not in used), None)


async def at_device(conn: Any, vm_id: UUID, device_id: int) -> str | None:
    """The name of the volume at the VM's device, if one is."""
    name: str | None = await conn.fetchval(
        "SELECT name FROM volumes WHERE vm_id = $1 AND device_id = $2", vm_id, device_id
    )
    return name


async def reach_of(
    conn: Any, host_id: UUID | None, root_volume_id: UUID | None
) -> tuple[UUID | None, str] | None:
    """Where a VM's disks must be reachable from: the cluster of its host while it runs,
    else of its root volume's pool (None for a zone-wide pool), with what that is for
    messages; None when the VM has neither (never started)."""
    if host_id is not None:
        row = await conn.fetchrow("SELECT cluster_id, name FROM hosts WHERE id = $1", host_id)
        if row is not None:
            return row["cluster_id"], f"host {row['name']}"
    row = await conn.fetchrow(
        """SELECT p.cluster_id, p.scope, p.name FROM volumes v
           JOIN storage_pools p ON p.id = v.pool_id
           WHERE v.id = $1 AND v.state <> 'Allocated'""",
        root_volume_id,
    )
    if row is None:
        return None
    return (row["cluster_id"] if row["scope"] == "cluster" else None), f"pool {row['name']}"


async def _locked(conn: Any, volume_id: UUID) -> Any:
    row = await conn.fetchrow("SELECT * FROM volumes WHERE id = $1 FOR UPDATE", volume_id)
    if row is None:
        raise NotFound(f"volume {volume_id} does not exist", id=str(volume_id))
    return row


def _busy(row: Any) -> Conflict:
    return Conflict(
        f"volume {row['id']} is busy with operation {row['current_operation_id']} "
        f"({row['current_operation_kind']})",
        operation_id=str(row["current_operation_id"]),
    )


async def acquire(
    conn: Any,
    volume_id: UUID,
    operation_id: UUID,
    kind: str,
    allowed: Collection[VolumeState],
) -> Volume:
    """Take the volume's operation lock for ``operation_id`` if its state allows ``kind``."""
    row = await _locked(conn, volume_id)
    if row["current_operation_id"] not in (None, operation_id):
        raise _busy(row)
    state = VolumeState(row["state"])
    if state not in allowed:
        raise IllegalTransition(
            f"cannot {kind} volume {volume_id} while it is {state} "
            f"(allowed from: {', '.join(sorted(allowed))})",
            current=str(state),
        )
    row = await conn.fetchrow(
        """UPDATE volumes SET current_operation_id = $2, current_operation_kind = $3
           WHERE id = $1 RETURNING *""",
        volume_id,
        operation_id,
        kind,
    )
    return VOLUMES.to_model(row)


async def enter(conn: Any, volume_id: UUID, target: VolumeState, operation_id: UUID) -> None:
    """The command moves the volume it just locked into its operation's transitional
    state (so the operation's run needs no first step for it)."""
    await transition(conn, VOLUME, volume_id, target, operation_id=operation_id)


async def context(conn: Any, volume_id: UUID) -> VolumeContext:
    row = await conn.fetchrow(
        """SELECT v.*, p.name AS pool_name FROM volumes v
           LEFT JOIN storage_pools p ON p.id = v.pool_id WHERE v.id = $1""",
        volume_id,
    )
    if row is None:
        raise NotFound(f"volume {volume_id} does not exist", id=str(volume_id))
    return VolumeContext(
        volume_id=row["id"],
        # On the pool every volume is ``strato-vol-<id>``: the user's name is a label only
        # (not unique, and free text), never a file name.
        name=storage_name(row["id"]),
        kind=row["kind"],
        zone_id=row["zone_id"],
        state=row["state"],
        size_bytes=row["size_bytes"],
        format=row["format"],
        path=row["path"],
        pool_id=row["pool_id"],
        pool_name=row["pool_name"],
        vm_id=row["vm_id"],
        device_id=row["device_id"],
        last_error=row["last_error"],
    )


async def begin(conn: Any, inp: VolumeBeginInput) -> VolumeContext:
    """An operation's first step: check it holds the lock and enter ``target`` (if set).
    The context says ``finished`` when this very operation already ended on the volume."""
    row = await _locked(conn, inp.volume_id)
    if row["current_operation_id"] != inp.operation_id:
        if inp.operation_id is not None and row["last_operation_id"] == inp.operation_id:
            return (await context(conn, inp.volume_id)).model_copy(update={"finished": True})
        raise _busy(row)
    if inp.target and row["state"] != inp.target:
        await transition(conn, VOLUME, inp.volume_id, VolumeState(inp.target), locked=row)
    return await context(conn, inp.volume_id)


async def begin_expunge(conn: Any, volume_id: UUID, operation_id: UUID) -> VolumeContext | None:
    """Take the lock and enter Expunging if the volume is still Destroy and unlocked (or
    locked by this operation). None when there is nothing to expunge; ``busy`` when
    another operation holds it for now."""
    row = await conn.fetchrow("SELECT * FROM volumes WHERE id = $1 FOR UPDATE", volume_id)
    if row is None:
        return None
    if row["current_operation_id"] is None and row["last_operation_id"] == operation_id:
        return (await context(conn, volume_id)).model_copy(update={"finished": True})
    if row["state"] not in (VolumeState.DESTROY, VolumeState.EXPUNGING):
        return None
    if row["current_operation_id"] not in (None, operation_id):
        # Destroy, but another operation (a snapshot's delete) holds it: wait for it.
        return (await context(conn, volume_id)).model_copy(update={"busy": True})
    await conn.execute(
        """UPDATE volumes SET current_operation_id = $2, current_operation_kind = 'expunge'
           WHERE id = $1""",
        volume_id,
        operation_id,
    )
    await transition(conn, VOLUME, volume_id, VolumeState.EXPUNGING, operation_id=operation_id)
    return await context(conn, volume_id)


async def finish(conn: Any, inp: VolumeFinishInput) -> VolumeContext:
    """Last step: final state, attachment, size and lock, with their events; one
    transaction. Idempotent: a retry finds the lock released and does nothing."""
    row = await _locked(conn, inp.volume_id)
    if row["current_operation_id"] is None and row["last_operation_id"] == inp.operation_id:
        return await context(conn, inp.volume_id)
    if row["current_operation_id"] not in (None, inp.operation_id):
        raise _busy(row)
    columns: dict[str, Any] = {
        "current_operation_id": None,
        "current_operation_kind": None,
        "last_operation_id": inp.operation_id,
        "last_error": inp.error,
    }
    if inp.vm_id is not None and inp.device_id is not None:
        columns |= {"vm_id": inp.vm_id, "device_id": inp.device_id}
    elif inp.detach:
        columns |= {"vm_id": None, "device_id": None}
    if inp.size_bytes is not None:
        columns["size_bytes"] = inp.size_bytes
    if inp.path is not None:
        columns["path"] = inp.path
    if inp.destroyed:
        now = await conn.fetchval("SELECT clock_timestamp()")
        columns |= {
            "destroyed_at": now,
            "expunge_at": now + timedelta(seconds=inp.expunge_delay_s or 0.0),
        }
    elif inp.target in (VolumeState.READY, VolumeState.ALLOCATED):
        columns |= {"destroyed_at": None, "expunge_at": None}
    if inp.release_pool:
        await pools.release_pool(conn, inp.volume_id)
        columns |= {"pool_id": None, "path": None}
    elif inp.claim_bytes is not None:
        # Giving the claim back to what the volume has: whatever the pool says now.
        await pools.resize_claim(conn, inp.volume_id, inp.claim_bytes, force=True)
    if inp.pool_id is not None:
        columns["pool_id"] = inp.pool_id
    if inp.claim_back_to is not None:
        await pools.move_claim(conn, inp.volume_id, inp.claim_back_to, force=True)
    await transition(
        conn,
        VOLUME,
        inp.volume_id,
        VolumeState(inp.target),
        operation_id=inp.operation_id,
        reason=inp.error,
        columns=columns,
        locked=row,
    )
    await _events(conn, row, inp)
    if inp.snapshot_id is not None and inp.snapshot_target:
        await snapshots.move(
            conn,
            inp.snapshot_id,
            SnapshotState(inp.snapshot_target),
            operation_id=inp.operation_id,
            error=inp.error,
            size_bytes=inp.snapshot_size_bytes,
            backup=inp.snapshot_backup,
        )
    if inp.target == VolumeState.EXPUNGED:
        await snapshots.destroy_all(conn, inp.volume_id, inp.operation_id)
    return await context(conn, inp.volume_id)


async def _events(conn: Any, row: Any, inp: VolumeFinishInput) -> None:
    """What the finishing step changed besides the state: attachment and size."""
    op = inp.operation_id
    payload: dict[str, Any]
    if inp.vm_id is not None and inp.device_id is not None and row["vm_id"] != inp.vm_id:
        payload = {"vm_id": str(inp.vm_id), "device": device_name(inp.device_id)}
        await events.append(
            conn, "strato.volume.attached", "volume", row["id"], operation_id=op, payload=payload
        )
    if inp.detach and row["vm_id"] is not None:
        device = device_name(row["device_id"]) if row["device_id"] is not None else None
        payload = {"vm_id": str(row["vm_id"]), "device": device}
        await events.append(
            conn, "strato.volume.detached", "volume", row["id"], operation_id=op, payload=payload
        )
    if inp.reverted_to is not None:
        snap = await snapshots.get(conn, inp.reverted_to)
        payload = {"snapshot_id": str(snap.id), "snapshot": snap.name}
        await events.append(
            conn, "strato.volume.reverted", "volume", row["id"], operation_id=op, payload=payload
        )
    if inp.size_bytes is not None and inp.size_bytes != row["size_bytes"]:
        payload = {"size_bytes": inp.size_bytes, "old_size_bytes": row["size_bytes"]}
        await events.append(
            conn, "strato.volume.resized", "volume", row["id"], operation_id=op, payload=payload
        )


async def fail_safe(conn: Any, volume_id: UUID, operation_id: UUID, error: str, kind: str) -> bool:
    """The guard of every volume workflow, on a failure its code did not handle: if the
    operation still holds the lock, a volume in a transitional state goes to Error, one
    at rest keeps its state; the lock is released, the reason recorded, and a
    ``strato.volume.operation_failed`` event written. Idempotent."""
    row = await conn.fetchrow("SELECT * FROM volumes WHERE id = $1 FOR UPDATE", volume_id)
    if row is None or row["current_operation_id"] != operation_id:
        return False
    current = VolumeState(row["state"])
    target = VolumeState.ERROR if VOLUME_STATE.can(current, VolumeState.ERROR) else current
    if current in (VolumeState.ALLOCATED, VolumeState.READY, VolumeState.DESTROY):
        target = current
    if current == VolumeState.SNAPSHOTTING:
        target = VolumeState.READY  # taking a snapshot never changes the volume's data
    if current == VolumeState.RESIZING:
        # The command grew the claim for the new size; the volume keeps its recorded size.
        await pools.resize_claim(conn, volume_id, row["size_bytes"], force=True)
    if current == VolumeState.MIGRATING and row["pool_id"] is not None:
        # The command moved the claim to the target: back to where the file is recorded.
        await pools.move_claim(conn, volume_id, row["pool_id"], force=True)
    columns = {
        "current_operation_id": None,
        "current_operation_kind": None,
        "last_operation_id": operation_id,
        "last_error": error,
    }
    await transition(
        conn,
        VOLUME,
        volume_id,
        target,
        operation_id=operation_id,
        reason=error,
        columns=columns,
        locked=row,
    )
    await snapshots.settle_stuck(conn, volume_id, operation_id, error)
    await events.append(
        conn,
        "strato.volume.operation_failed",
        "volume",
        volume_id,
        operation_id=operation_id,
        payload={"kind": kind or row["current_operation_kind"], "error": error},
    )
    return True
