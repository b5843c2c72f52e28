"""Backup offerings and VM backups: rows, state moves with their events, retention."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, NotFound
from strato.domain.states import VolumeState
from strato.domain.storage.backups import BackupDoneInput, BackupFiles, backup_key
from strato.domain.storage.models import Backup, BackupOffering, BackupSchedule
from strato.domain.storage.payloads import device_name
from strato.schema import events
from strato.schema.repository import TableSpec
from strato.schema.storage import pools, templates, volumes

OFFERINGS = TableSpec("backup_offerings", "backup_offering", BackupOffering)
SCHEDULES = TableSpec(
    "backup_schedules",
    "backup_schedule",
    BackupSchedule,
    state_column=None,
    references={"vm_id": "vm"},
    owner="(SELECT v.owner FROM vms v WHERE v.id = backup_schedules.vm_id)",
)
BACKUPS = TableSpec(
    "backups",
    "backup",
    Backup,
    references={"vm_id": "vm", "zone_id": "zone", "offering_id": "backup_offering"},
    owner="(SELECT v.owner FROM vms v WHERE v.id = backups.vm_id)",
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
    # Locked, then checked again: a restore that committed while this waited for a
    # backup's lock is seen by the second statement, and that backup is kept.
    old = await conn.fetch(
        """SELECT b.* FROM backups b
           WHERE b.vm_id = $1 AND b.state = 'BackedUp' AND b.current_operation_id IS NULL
           ORDER BY b.created_at DESC OFFSET (SELECT retention FROM backup_offerings
                                              WHERE id = $2)
           FOR UPDATE OF b""",
        row["vm_id"],
        row["offering_id"],
    )
    old = [b for b in old if not await restoring(conn, b["id"])]
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


async def share(conn: Any, backup_id: UUID) -> Any:
    """The backup, BackedUp and not being deleted, held (FOR SHARE) until the caller's
    transaction records the volumes it restores from it: a DeleteBackup waits, then
    finds them (:func:`refuse_if_restoring`)."""
    row = await conn.fetchrow("SELECT * FROM backups WHERE id = $1 FOR SHARE", backup_id)
    if row is None:
        raise NotFound(f"backup {backup_id} does not exist", id=str(backup_id))
    if row["state"] != "BackedUp" or row["current_operation_id"] is not None:
        raise Conflict(f"backup {backup_id} is {row['state']}, not BackedUp")
    return row


async def restoring(conn: Any, backup_id: UUID) -> int:
    """Volumes still being restored from the backup: not made yet, and the operation
    making them (the volume's, or its VM's) still holds its lock. One whose operation
    ended without undoing it (the guard settled it) holds the backup no longer."""
    n: int = await conn.fetchval(
        """SELECT count(*) FROM volumes v LEFT JOIN vms m ON m.id = v.vm_id
           WHERE v.restored_from = $1 AND v.state IN ('Allocated', 'Creating')
             AND (v.current_operation_id IS NOT NULL OR m.current_operation_id IS NOT NULL)""",
        backup_id,
    )
    return n


async def refuse_if_restoring(conn: Any, backup_id: UUID) -> None:
    """Conflict while a volume is still being restored from the backup."""
    n = await restoring(conn, backup_id)
    if n:
        raise Conflict(f"backup {backup_id} is being restored ({n} volume(s)): try again after")


async def restored(conn: Any, vm_id: UUID, op: UUID | None, paths: dict[str, str]) -> None:
    """A VM restored from a backup: its volumes Ready with their files, each data volume's
    attachment announced. With no ``paths`` the restore failed: its claims are released,
    its data volumes Expunged and detached, its root left Allocated (as a failed deploy's).
    Idempotent."""
    rows = await conn.fetch(
        "SELECT * FROM volumes WHERE vm_id = $1 ORDER BY device_id FOR UPDATE", vm_id
    )
    for r in rows:
        path = paths.get(str(r["id"]))
        if path is not None and r["state"] != VolumeState.READY:
            await volumes.set_state(conn, r["id"], VolumeState.READY, path=path)
            if r["kind"] == "DATADISK":
                payload = {"vm_id": str(vm_id), "device": device_name(r["device_id"])}
                await events.append(
                    conn,
                    "strato.volume.attached",
                    "volume",
                    r["id"],
                    operation_id=op,
                    payload=payload,
                )
        elif not paths:
            await pools.release_pool(conn, r["id"])
            await conn.execute("UPDATE volumes SET restored_from = NULL WHERE id = $1", r["id"])
            if r["kind"] == "DATADISK":
                await volumes.set_state(conn, r["id"], VolumeState.EXPUNGED)
                await conn.execute(
                    "UPDATE volumes SET vm_id = NULL, device_id = NULL WHERE id = $1", r["id"]
                )
