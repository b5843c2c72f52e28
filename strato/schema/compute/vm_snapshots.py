"""VM snapshots: rows, the guarded state moves with their events, the guard that keeps a
VM's set of disks while it has snapshots, and what the doctor reads and repairs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.compute.models import VmSnapshot
from strato.domain.compute.vm_snapshots import DiskTag, VmSnapshotSettle
from strato.domain.errors import Conflict, NotFound
from strato.domain.states import TRANSITIONAL_VM_SNAPSHOT, VmSnapshotState
from strato.schema.repository import TableSpec
from strato.schema.transitions import VM_SNAPSHOT, transition

VM_SNAPSHOTS = TableSpec(
    "vm_snapshots",
    "vm_snapshot",
    VmSnapshot,
    references={"vm_id": "vm"},
    owner="(SELECT v.owner FROM vms v WHERE v.id = vm_snapshots.vm_id)",
)

# VM operations refused while the VM has snapshots: each would change the set of disks
# the snapshots are on, or (a new service offering) the machine a revert restores.
KEEP_DISKS = frozenset(
    {"attach-volume", "detach-volume", "resize-volume", "migrate-volume", "scale"}
)


async def count(conn: Any, vm_id: UUID) -> int:
    """The VM's snapshots that are not Removed (an Error one may be on some disks)."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM vm_snapshots WHERE vm_id = $1 AND state <> 'Removed'", vm_id
    )
    return n


async def refuse_if_any(conn: Any, vm_id: UUID, vm_name: str, kind: str) -> None:
    """Conflict for a ``kind`` in :data:`KEEP_DISKS` while the VM has snapshots."""
    if kind not in KEEP_DISKS:
        return
    n = await count(conn, vm_id)
    if n:
        raise Conflict(
            f"VM {vm_name} has {n} VM snapshot(s): delete them before you {kind.replace('-', ' ')}"
        )


async def lock(conn: Any, vm_snapshot_id: UUID, allowed: set[VmSnapshotState]) -> VmSnapshot:
    """The snapshot, locked for the caller's transaction, in one of ``allowed``."""
    row = await conn.fetchrow("SELECT * FROM vm_snapshots WHERE id = $1 FOR UPDATE", vm_snapshot_id)
    if row is None:
        raise NotFound(f"VM snapshot {vm_snapshot_id} does not exist", id=str(vm_snapshot_id))
    if row["current_operation_id"] is not None:
        raise Conflict(
            f"VM snapshot {row['name']} is busy with operation {row['current_operation_id']}"
        )
    if row["state"] not in allowed:
        raise Conflict(
            f"VM snapshot {row['name']} is {row['state']} (allowed: {', '.join(sorted(allowed))})"
        )
    return VM_SNAPSHOTS.to_model(row)


async def move(conn: Any, vm_snapshot_id: UUID, target: VmSnapshotState, op: UUID | None) -> None:
    """The command's move: into ``target``, held by operation ``op``."""
    await transition(
        conn,
        VM_SNAPSHOT,
        vm_snapshot_id,
        target,
        operation_id=op,
        columns={"current_operation_id": op, "last_error": None},
    )


async def settle(conn: Any, inp: VmSnapshotSettle) -> None:
    """The operation's last move of its snapshot; idempotent (a retry finds it let go)."""
    row = await conn.fetchrow(
        "SELECT * FROM vm_snapshots WHERE id = $1 FOR UPDATE", inp.vm_snapshot_id
    )
    if row is None or row["current_operation_id"] != inp.operation_id:
        return
    await transition(
        conn,
        VM_SNAPSHOT,
        inp.vm_snapshot_id,
        VmSnapshotState(inp.state),
        operation_id=inp.operation_id,
        reason=inp.error,
        columns={"current_operation_id": None, "last_error": inp.error},
        locked=row,
    )


async def removed_with_vm(conn: Any, vm_id: UUID, op: UUID | None) -> None:
    """The VM is expunged: its disks, and the snapshots on them, are gone."""
    rows = await conn.fetch(
        "SELECT * FROM vm_snapshots WHERE vm_id = $1 AND state <> 'Removed' FOR UPDATE", vm_id
    )
    for row in rows:
        await transition(
            conn,
            VM_SNAPSHOT,
            row["id"],
            VmSnapshotState.REMOVED,
            operation_id=op,
            reason="its VM was expunged",
            columns={"current_operation_id": None},
            locked=row,
        )


async def data_tags(conn: Any, vm_id: UUID) -> list[DiskTag]:
    """The VM's snapshots on its data volumes (not Removed): what an expunge deletes from
    the volumes it leaves behind, detached."""
    rows = await conn.fetch(
        """SELECT s.tag, d->>'pool' AS pool, d->>'name' AS volume
           FROM vm_snapshots s CROSS JOIN jsonb_array_elements(s.disks) d
           JOIN volumes v ON v.id = (d->>'volume_id')::uuid
           WHERE s.vm_id = $1 AND s.state <> 'Removed' AND v.kind <> 'ROOT'
           ORDER BY s.created_at, d->>'device'""",
        vm_id,
    )
    return [DiskTag(pool=r["pool"], volume=r["volume"], tag=r["tag"]) for r in rows]


# -- the doctor -----------------------------------------------------------------------


async def stuck(conn: Any, orphan_ops: list[UUID]) -> list[Any]:
    """Snapshots in a transitional state whose operation no longer holds their VM (every
    VM snapshot operation settles its snapshot before it lets go of the VM), or held by
    one of ``orphan_ops`` (ended without letting go)."""
    rows: list[Any] = await conn.fetch(
        """SELECT s.id, s.name, s.state, s.current_operation_id, s.vm_id, v.name AS vm_name
           FROM vm_snapshots s JOIN vms v ON v.id = s.vm_id
           WHERE s.state = ANY($1::text[])
             AND (v.current_operation_id IS DISTINCT FROM s.current_operation_id
                  OR s.current_operation_id = ANY($2::uuid[]))
           ORDER BY s.created_at, s.id""",
        sorted(TRANSITIONAL_VM_SNAPSHOT),
        orphan_ops,
    )
    return rows


async def unstick(
    conn: Any, *, vm_snapshot_id: UUID, state: str, op: UUID | None, error: str, orphan: bool
) -> bool:
    """A stuck snapshot to Error (deletable), or back to Ready from Reverting (the
    snapshot is whole; its VM's state is the VM's own check), unless something moved it
    meanwhile."""
    row = await conn.fetchrow(
        """SELECT s.*, v.current_operation_id AS vm_op FROM vm_snapshots s
           JOIN vms v ON v.id = s.vm_id WHERE s.id = $1 FOR UPDATE OF s, v""",
        vm_snapshot_id,
    )
    if (
        row is None
        or row["state"] != state
        or row["current_operation_id"] != op
        or (op is not None and row["vm_op"] == op and not orphan)
    ):
        return False
    reverting = state == VmSnapshotState.REVERTING
    await transition(
        conn,
        VM_SNAPSHOT,
        vm_snapshot_id,
        VmSnapshotState.READY if reverting else VmSnapshotState.ERROR,
        reason=error,
        columns={"current_operation_id": None, "last_error": error},
        locked=row,
    )
    return True
