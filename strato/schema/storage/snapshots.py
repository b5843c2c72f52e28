"""Snapshot rows. A snapshot changes state only under its volume's lock (every snapshot
operation acts on the volume's file), in the same steps that move the volume."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, NotFound
from strato.domain.states import TRANSITIONAL_SNAPSHOT, SnapshotState
from strato.domain.storage.models import Snapshot
from strato.domain.storage.payloads import SnapshotBackup
from strato.schema.repository import TableSpec
from strato.schema.transitions import SNAPSHOT, transition

SNAPSHOTS = TableSpec(
    "snapshots",
    "snapshot",
    Snapshot,
    references={"volume_id": "volume", "zone_id": "zone"},
    owner="owner",
)


def storage_name(snapshot_id: UUID) -> str:
    return f"strato-snap-{snapshot_id}"


async def get(conn: Any, snapshot_id: UUID, *, share: bool = False) -> Snapshot:
    """The snapshot (``share``: held FOR SHARE until the caller's transaction ends)."""
    lock = " FOR SHARE" if share else ""
    row = await conn.fetchrow(f"SELECT * FROM snapshots WHERE id = $1{lock}", snapshot_id)
    if row is None:
        raise NotFound(f"snapshot {snapshot_id} does not exist", id=str(snapshot_id))
    return SNAPSHOTS.to_model(row)


async def move(
    conn: Any,
    snapshot_id: UUID,
    target: SnapshotState,
    *,
    operation_id: UUID | None,
    error: str | None = None,
    size_bytes: int | None = None,
    backup: SnapshotBackup | None = None,
) -> None:
    """Move the snapshot to ``target`` (recording why it failed, its size, or where its
    backup is). Idempotent."""
    columns: dict[str, Any] = {"last_error": error}
    if size_bytes is not None:
        columns["size_bytes"] = size_bytes
    if backup is not None:
        columns |= {
            "backup_store_id": backup.store_id,
            "backup_path": backup.path,
            "backup_bytes": backup.size_bytes,
        }
    await transition(
        conn,
        SNAPSHOT,
        snapshot_id,
        target,
        operation_id=operation_id,
        reason=error,
        columns=columns,
    )


async def settle_stuck(conn: Any, volume_id: UUID, operation_id: UUID, error: str) -> None:
    """The volume's lock is being released by a failed operation: any of its snapshots
    left in a transitional state is Error (nothing else can be working on it)."""
    rows = await conn.fetch(
        "SELECT id FROM snapshots WHERE volume_id = $1 AND state = ANY($2::text[])",
        volume_id,
        sorted(TRANSITIONAL_SNAPSHOT | {SnapshotState.ALLOCATED}),
    )
    for r in rows:
        await move(conn, r["id"], SnapshotState.ERROR, operation_id=operation_id, error=error)


async def destroy_all(conn: Any, volume_id: UUID, operation_id: UUID | None) -> None:
    """The volume's file is gone, and its snapshots on the pool with it; a backed-up
    snapshot lives on in secondary storage (CloudStack keeps them too)."""
    rows = await conn.fetch(
        "SELECT id FROM snapshots WHERE volume_id = $1 AND state NOT IN ('Destroyed', 'BackedUp')",
        volume_id,
    )
    for r in rows:
        await move(conn, r["id"], SnapshotState.DESTROYED, operation_id=operation_id)


async def live_count(conn: Any, volume_id: UUID) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM snapshots WHERE volume_id = $1 AND state <> 'Destroyed'", volume_id
    )
    return n


async def copying_from(conn: Any, snapshot_id: UUID, volume_id: UUID) -> None:
    """The new volume ``volume_id`` is being made from the snapshot's backup."""
    await conn.execute(
        "UPDATE volumes SET copied_from_snapshot = $2 WHERE id = $1", volume_id, snapshot_id
    )


async def refuse_if_copied(conn: Any, snapshot_id: UUID) -> None:
    """Conflict while a volume is still being made from the snapshot's backup. The
    snapshot is locked first: a copy accepted meanwhile (which holds it FOR SHARE until
    its volume names it) is waited for, then seen."""
    await conn.execute("SELECT 1 FROM snapshots WHERE id = $1 FOR UPDATE", snapshot_id)
    n: int = await conn.fetchval(
        """SELECT count(*) FROM volumes
           WHERE copied_from_snapshot = $1 AND state IN ('Allocated', 'Creating')
             AND current_operation_id IS NOT NULL""",
        snapshot_id,
    )
    if n:
        raise Conflict(
            f"snapshot {snapshot_id} is being copied to {n} new volume(s): try again after"
        )
