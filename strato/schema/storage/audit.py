"""The storage subsystem's audit SQL for `strato doctor`: volumes, storage claims and pool
counters, and their fixes (each locks, re-checks, and returns whether it acted)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from strato.domain.states import SnapshotState, StateMachine, VolumeState
from strato.schema.storage import backups, pools, templates
from strato.schema.transitions import SNAPSHOT, VOLUME, transition

# -- reads ----------------------------------------------------------------------------


async def stuck_volumes(
    conn: Any, transitional: Collection[str], orphan_ops: Collection[UUID] = ()
) -> list[Any]:
    """Volumes at rest in a transitional state, live volumes of expunged VMs, and volumes
    locked by one of ``orphan_ops`` (operations that ended without releasing them)."""
    rows: list[Any] = await conn.fetch(
        """SELECT vol.id, vol.name, vol.state, vol.current_operation_id AS op,
                  v.state AS vm_state FROM volumes vol
           LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE ((v.id IS NULL OR v.current_operation_id IS NULL)
                  AND vol.current_operation_id IS NULL
                  AND (vol.state = ANY($1::text[])
                       OR (v.state = 'Expunged' AND vol.state <> 'Expunged')))
              OR vol.current_operation_id = ANY($2::uuid[])
           ORDER BY vol.created_at, vol.id""",
        sorted(transitional),
        list(orphan_ops),
    )
    return rows


async def locked_volumes(conn: Any) -> list[Any]:
    """Volumes whose lock is held, with the operation that holds it (if it has a row)."""
    rows: list[Any] = await conn.fetch(
        """SELECT vol.id, vol.current_operation_id AS op, o.workflow_id, o.run_id
           FROM volumes vol LEFT JOIN operations o ON o.id = vol.current_operation_id
           WHERE vol.current_operation_id IS NOT NULL"""
    )
    return rows


async def stray_pool_claims(conn: Any) -> list[Any]:
    """Claims of volumes at rest that are not Ready on the claimed pool."""
    rows: list[Any] = await conn.fetch(
        """SELECT c.volume_id, c.pool_id, c.bytes, p.name AS pool, vol.name, vol.state,
                  vol.pool_id AS vol_pool
           FROM pool_claims c JOIN volumes vol ON vol.id = c.volume_id
           JOIN storage_pools p ON p.id = c.pool_id LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE (v.id IS NULL OR v.current_operation_id IS NULL)
             AND vol.current_operation_id IS NULL
             AND NOT (vol.state IN ('Ready', 'Destroy', 'Error') AND vol.path IS NOT NULL
                      AND vol.pool_id = c.pool_id)
           ORDER BY vol.created_at, vol.id"""
    )
    return rows


async def ready_without_claim(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT vol.id, vol.name, vol.state, vol.pool_id, vol.size_bytes, p.name AS pool
           FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id
           LEFT JOIN pool_claims c ON c.volume_id = vol.id LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE (v.id IS NULL OR v.current_operation_id IS NULL)
             AND vol.current_operation_id IS NULL
             AND vol.state IN ('Ready', 'Destroy') AND vol.path IS NOT NULL
             AND c.volume_id IS NULL
           ORDER BY vol.created_at, vol.id"""
    )
    return rows


# Every claim on each pool: volumes' and template copies'.
_CLAIMS = """
    SELECT pool_id, sum(b) AS b, count(*) AS n FROM (
        SELECT pool_id, bytes AS b FROM pool_claims
        UNION ALL SELECT pool_id, claimed_bytes FROM template_pool_cache) c
    GROUP BY pool_id"""


async def pool_counters(conn: Any) -> list[Any]:
    """Pools whose allocated counter differs from the sum of their claims (volumes' and
    template copies')."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT p.id, p.name, p.allocated_bytes, coalesce(s.b, 0) AS b, coalesce(s.n, 0) AS n
           FROM storage_pools p LEFT JOIN ({_CLAIMS}) s ON s.pool_id = p.id
           WHERE p.allocated_bytes <> coalesce(s.b, 0) ORDER BY p.name"""
    )
    return rows


async def pool_volumes(conn: Any, pool_name: str) -> list[Any]:
    """The live volume records on a pool, with the operation holding their VM."""
    rows: list[Any] = await conn.fetch(
        """SELECT vol.id, 'strato-vol-' || vol.id::text AS name, vol.state, vol.updated_at,
                  coalesce(vol.current_operation_id, v.current_operation_id) AS op
           FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id
           LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE p.name = $1 AND vol.state <> 'Expunged'""",
        pool_name,
    )
    return rows


async def recently_owned(conn: Any, name: str, taken_at: datetime) -> bool:
    """A volume record changed since the listing (or its VM is mid-operation)."""
    rows = await conn.fetch(
        """SELECT 1 FROM volumes vol LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE 'strato-vol-' || vol.id::text = $1
             AND (vol.updated_at >= $2 OR v.current_operation_id IS NOT NULL
                  OR vol.current_operation_id IS NOT NULL)""",
        name,
        taken_at,
    )
    return bool(rows)


async def template_copies(conn: Any, pool_name: str) -> list[Any]:
    """The template copies recorded on a pool, with how many live volumes there are
    clones of each."""
    rows: list[Any] = await conn.fetch(
        """SELECT c.template_id, c.pool_id, c.name, c.state, c.used_at, c.claimed_by,
                  (SELECT count(*) FROM volumes v
                   WHERE v.template_id = c.template_id AND v.pool_id = c.pool_id
                     AND v.state <> 'Expunged') AS clones
           FROM template_pool_cache c JOIN storage_pools p ON p.id = c.pool_id
           WHERE p.name = $1""",
        pool_name,
    )
    return rows


async def unused_template_copies(conn: Any, idle_s: float) -> list[Any]:
    """Ready copies nothing is cloned from, unused for ``idle_s``: the cache's garbage
    collection should have removed them."""
    rows: list[Any] = await conn.fetch(
        """SELECT c.template_id, c.pool_id, c.name, p.name AS pool, c.used_at
           FROM template_pool_cache c JOIN storage_pools p ON p.id = c.pool_id
           WHERE c.state = 'Ready'
             AND c.used_at < clock_timestamp() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM volumes v
                             WHERE v.template_id = c.template_id AND v.pool_id = c.pool_id
                               AND v.state <> 'Expunged')""",
        idle_s,
    )
    return rows


async def image_stores(conn: Any) -> list[Any]:
    """The image stores to compare (Up or ReadOnly)."""
    rows: list[Any] = await conn.fetch(
        "SELECT * FROM image_stores WHERE state <> 'Disabled' ORDER BY name"
    )
    return rows


async def store_images(conn: Any, store_id: UUID) -> list[Any]:
    """The images records say the store holds (or is being given): templates' copies,
    snapshots' backups, VM backups' volumes, with their state and last change."""
    rows: list[Any] = await conn.fetch(
        """SELECT 'template/' || template_id::text AS key, 'template' AS kind,
                  template_id AS ref, state, updated_at
           FROM template_stores WHERE store_id = $1
           UNION ALL
           SELECT 'snapshot/' || id::text, 'snapshot', id, state, updated_at FROM snapshots
           WHERE (backup_store_id = $1 AND state <> 'Destroyed') OR state = 'BackingUp'
           UNION ALL
           SELECT 'backup/' || b.id::text || '-' || (v ->> 'volume_id'), 'backup', b.id,
                  b.state, b.updated_at
           FROM backups b CROSS JOIN LATERAL jsonb_array_elements(b.volumes) v
           WHERE b.store_id = $1 AND b.state <> 'Removed'""",
        store_id,
    )
    return rows


async def backups_in_progress(conn: Any, store_id: UUID) -> list[str]:
    """Key prefixes of the store's backups being made (their volumes not recorded yet)."""
    rows = await conn.fetch(
        "SELECT id FROM backups WHERE store_id = $1 AND state = 'BackingUp'", store_id
    )
    return [f"backup/{r['id']}-" for r in rows]


# -- fixes ----------------------------------------------------------------------------


async def forget_template_image(conn: Any, *, template_id: UUID, store_id: UUID) -> bool:
    """A template's copy the store does not hold: its record goes Error (another copy, or
    a new registration, is needed)."""
    status = await conn.execute(
        """UPDATE template_stores SET state = 'Error',
                  last_error = 'its image is not in the store (strato doctor)',
                  updated_at = clock_timestamp()
           WHERE template_id = $1 AND store_id = $2 AND state = 'Ready'""",
        template_id,
        store_id,
    )
    return bool(status.endswith(" 1"))


async def image_still_orphan(conn: Any, store_id: UUID, key: str) -> bool:
    """Before an image is deleted: still no record names it."""
    return key not in {r["key"] for r in await store_images(conn, store_id)} and not any(
        key.startswith(p) for p in await backups_in_progress(conn, store_id)
    )


async def forget_template_copy(conn: Any, *, template_id: UUID, pool_id: UUID) -> bool:
    """A Ready copy whose file is gone: its record goes (the next deploy copies again)."""
    where = "template_id = $1 AND pool_id = $2 AND state = 'Ready'"
    return await templates.drop_copies(conn, where, template_id, pool_id) == 1


async def evict_template_copy(conn: Any, *, template_id: UUID, pool_id: UUID) -> bool:
    """Hand an unused copy to the cache's garbage collection (the orchestrator's sweep
    removes Evicting copies), if still nothing uses it."""
    return await templates.evict_begin(conn, template_id, pool_id, uuid4())


async def volume_still_orphan(conn: Any, pool_name: str, name: str, taken_at: datetime) -> bool:
    """Before a volume file is deleted: lock its pool's row (every volume placed on the
    pool claims capacity through it) and True only if still no live record owns the name
    and none changed since the listing. The lock is held past the delete."""
    pool = await conn.fetchrow("SELECT id FROM storage_pools WHERE name = $1 FOR UPDATE", pool_name)
    if pool is None:
        return False
    if name.startswith("strato-tpl-"):  # a template's copy: recorded, or cloned from?
        owned = await conn.fetchval(
            """SELECT (SELECT count(*) FROM template_pool_cache
                       WHERE name = $1 AND pool_id = $2)
                    + (SELECT count(*) FROM volumes
                       WHERE 'strato-tpl-' || template_id::text = $1 AND pool_id = $2
                         AND state <> 'Expunged')""",
            name,
            pool["id"],
        )
        return bool(owned == 0)
    owned = await conn.fetchval(
        """SELECT count(*) FROM volumes
           WHERE 'strato-vol-' || id::text = $1 AND state <> 'Expunged'""",
        name,
    )
    return bool(owned == 0 and not await recently_owned(conn, name, taken_at))


async def _volume_at_rest(conn: Any, volume_id: UUID, state: str) -> bool:
    row = await conn.fetchrow(
        """SELECT vol.state, coalesce(vol.current_operation_id, v.current_operation_id) AS op
           FROM volumes vol LEFT JOIN vms v ON v.id = vol.vm_id
           WHERE vol.id = $1 FOR UPDATE OF vol""",
        volume_id,
    )
    return bool(row is not None and row["state"] == state and row["op"] is None)


async def volume_state(conn: Any, *, volume_id: UUID, state: str, target: str) -> bool:
    if not await _volume_at_rest(conn, volume_id, state):
        return False
    if target == VolumeState.EXPUNGED:
        await pools.release_pool(conn, volume_id)
    await transition(conn, VOLUME, volume_id, VolumeState(target))
    return True


async def unstick_volume(
    conn: Any, *, volume_id: UUID, state: str, op: UUID, error: str, to_error: bool
) -> bool:
    """Release the lock an ended operation left on a volume, and move it to Error if it
    was left in a transitional state."""
    row = await conn.fetchrow("SELECT * FROM volumes WHERE id = $1 FOR UPDATE", volume_id)
    if row is None or row["state"] != state or row["current_operation_id"] != op:
        return False
    columns: dict[str, Any] = {"current_operation_id": None, "current_operation_kind": None}
    if to_error:
        columns["last_error"] = error
    target = VolumeState.ERROR if to_error else VolumeState(state)
    await transition(
        conn,
        VOLUME,
        volume_id,
        target,
        reason=error if to_error else None,
        columns=columns,
        locked=row,
    )
    return True


async def release_pool_claim(conn: Any, *, volume_id: UUID, state: str) -> bool:
    if not await _volume_at_rest(conn, volume_id, state):
        return False
    await pools.release_pool(conn, volume_id)
    return True


async def insert_pool_claim(
    conn: Any, *, volume_id: UUID, pool_id: UUID, size: int, state: str = "Ready"
) -> bool:
    if not await _volume_at_rest(conn, volume_id, state):
        return False
    await conn.execute("SELECT 1 FROM storage_pools WHERE id = $1 FOR UPDATE", pool_id)
    status: str = await conn.execute(
        """INSERT INTO pool_claims (volume_id, pool_id, bytes) VALUES ($1, $2, $3)
           ON CONFLICT (volume_id) DO NOTHING""",
        volume_id,
        pool_id,
        size,
    )
    if not status.endswith(" 1"):
        return False
    await conn.execute(
        "UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2 WHERE id = $1",
        pool_id,
        size,
    )
    return True


async def recount_pool(conn: Any, *, pool_id: UUID) -> bool:
    await conn.execute("SELECT 1 FROM storage_pools WHERE id = $1 FOR UPDATE", pool_id)
    status: str = await conn.execute(
        f"""UPDATE storage_pools p SET allocated_bytes = s.b
           FROM (SELECT coalesce(sum(b), 0) AS b FROM ({_CLAIMS}) c WHERE pool_id = $1) s
           WHERE p.id = $1 AND p.allocated_bytes <> s.b""",
        pool_id,
    )
    return status.endswith(" 1")


# A doctor's repair of a backup that is not where it is recorded (no operation does this).
_LOST_BACKUP = StateMachine[SnapshotState](
    "snapshot",
    {
        SnapshotState.CREATED_ON_PRIMARY: frozenset({SnapshotState.BACKED_UP}),
        SnapshotState.ERROR: frozenset({SnapshotState.BACKED_UP}),
    },
)
_GONE = "its backup is not in the image store (strato doctor)"


async def forget_snapshot_backup(conn: Any, *, snapshot_id: UUID) -> bool:
    """A BackedUp snapshot whose backup the store does not hold: CreatedOnPrimary again
    while its volume (whose file holds the snapshot) is there, else Error."""
    row = await conn.fetchrow(
        """SELECT s.state, v.state AS volume_state FROM snapshots s
           JOIN volumes v ON v.id = s.volume_id WHERE s.id = $1 FOR UPDATE OF s""",
        snapshot_id,
    )
    if row is None or row["state"] != SnapshotState.BACKED_UP:
        return False
    on_primary = row["volume_state"] != VolumeState.EXPUNGED
    target = SnapshotState.CREATED_ON_PRIMARY if on_primary else SnapshotState.ERROR
    columns: dict[str, Any] = {"backup_store_id": None, "backup_path": None, "backup_bytes": 0}
    if not on_primary:
        columns["last_error"] = _GONE
    await transition(
        conn, SNAPSHOT, snapshot_id, target, reason=_GONE, columns=columns, machine=_LOST_BACKUP
    )
    return True


async def forget_vm_backup(conn: Any, *, backup_id: UUID) -> bool:
    """A BackedUp VM backup a volume of which the store does not hold: Error, saying so
    (nothing can be restored from it; deleting it removes what is left)."""
    row = await conn.fetchrow(
        "SELECT state, current_operation_id FROM backups WHERE id = $1 FOR UPDATE", backup_id
    )
    if row is None or row["state"] != "BackedUp" or row["current_operation_id"] is not None:
        return False
    await backups.move(conn, backup_id, "Error", None, reason=_GONE, columns={"last_error": _GONE})
    return True
