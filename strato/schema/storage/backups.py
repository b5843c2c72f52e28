"""Backup offerings and VM backups: rows, state moves with their events, retention."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, NotFound
from strato.domain.storage.backups import BackupDoneInput, BackupFiles, backup_key
from strato.domain.storage.models import Backup, BackupOffering, BackupSchedule
from strato.schema import events
from strato.schema.repository import TableSpec
from strato.schema.storage import templates

OFFERINGS = TableSpec("backup_offerings", "backup_offering", BackupOffering)
SCHEDULES = TableSpec(
    "backup_schedules",
    "backup_schedule",
    BackupSchedule,
    state_column=None,
    references={"vm_id": "vm"},
)
BACKUPS = TableSpec(
    "backups",
    "backup",
    Backup,
    references={"vm_id": "vm", "zone_id": "zone", "offering_id": "backup_offering"},
)


async def move(
    conn: Any,
    backup_id: UUID,
    target: str,
    op: UUID | None,
    *,
    reason: str | None = None,
    columns: dict[str, Any] | None = None,
) -> None:
    """The backup to ``target`` (with ``columns``), its event in this transaction."""
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR UPDATE", backup_id)
    if row is None:
        raise NotFound(f"backup {backup_id} does not exist", id=str(backup_id))
    sets, args = (
        ["state = $2", "version = version + 1", "updated_at = clock_timestamp()"],
        [
            backup_id,
            target,
        ],
    )
    for col, value in (columns or {}).items():
        args.append(value)
        sets.append(f"{col} = ${len(args)}")
    await conn.execute(f"UPDATE backups SET {', '.join(sets)} WHERE id = $1", *args)
    if row["state"] != target:
        await events.append(
            conn,
            "strato.backup.state_changed",
            "backup",
            backup_id,
            old_state=row["state"],
            new_state=target,
            payload={"reason": reason} if reason else {},
            operation_id=op,
        )


async def lock(conn: Any, backup_id: UUID, op: UUID, allowed: set[str]) -> Any:
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR UPDATE", backup_id)
    if row is None:
        raise NotFound(f"backup {backup_id} does not exist", id=str(backup_id))
    if row["current_operation_id"] not in (None, op):
        raise Conflict(f"backup {backup_id} is busy with operation {row['current_operation_id']}")
    if row["state"] not in allowed:
        raise Conflict(
            f"backup {backup_id} is {row['state']} (allowed: {', '.join(sorted(allowed))})"
        )
    await conn.execute("UPDATE backups SET current_operation_id = $2 WHERE id = $1", backup_id, op)
    return row


async def files(conn: Any, backup: Any) -> BackupFiles:
    vols = backup["volumes"]
    return BackupFiles(
        backup_id=backup["id"],
        store=await templates.store(conn, backup["store_id"]),
        keys=[backup_key(backup["id"], UUID(v["volume_id"])) for v in vols],
    )


async def finished(conn: Any, inp: BackupDoneInput) -> list[BackupFiles]:
    """The backup is BackedUp with its volumes; the VM's oldest backups beyond its
    offering's retention go Removing. Returns their files, to delete. Idempotent."""
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR UPDATE", inp.backup_id)
    if row["current_operation_id"] == inp.operation_id:
        vols = [v.model_dump(mode="json") for v in inp.volumes]
        await move(
            conn,
            inp.backup_id,
            "BackedUp",
            inp.operation_id,
            columns={
                "volumes": vols,
                "size_bytes": sum(v.stored_bytes for v in inp.volumes),
                "current_operation_id": None,
                "last_error": None,
            },
        )
    old = await conn.fetch(
        """SELECT b.* FROM backups b JOIN backup_offerings o ON o.id = b.offering_id
           WHERE b.vm_id = $1 AND b.state = 'BackedUp'
           ORDER BY b.created_at DESC OFFSET (SELECT retention FROM backup_offerings
                                              WHERE id = $2)""",
        row["vm_id"],
        row["offering_id"],
    )
    # A retried step whose first try committed: what it marked is still this run's.
    marked = await conn.fetch(
        "SELECT * FROM backups WHERE state = 'Removing' AND current_operation_id = $1",
        inp.operation_id,
    )
    pruned = [await files(conn, b) for b in marked]
    for b in old:
        await move(
            conn,
            b["id"],
            "Removing",
            inp.operation_id,
            reason="beyond its offering's retention",
            columns={"current_operation_id": inp.operation_id},
        )
        pruned.append(await files(conn, b))
    return pruned


async def failed(conn: Any, inp: BackupDoneInput) -> None:
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR UPDATE", inp.backup_id)
    if row is None or row["current_operation_id"] != inp.operation_id:
        return
    await move(
        conn,
        inp.backup_id,
        "Error",
        inp.operation_id,
        reason=inp.error,
        columns={"current_operation_id": None, "last_error": inp.error},
    )


async def removed(conn: Any, backup_id: UUID, op: UUID) -> None:
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR UPDATE", backup_id)
    if row is None or row["current_operation_id"] != op:
        return
    await move(conn, backup_id, "Removed", op, columns={"current_operation_id": None})
