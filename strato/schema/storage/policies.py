"""Snapshot policy rows, and what the policies' schedules and their runs read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.storage.models import Snapshot, SnapshotPolicy
from strato.schema.repository import TableSpec
from strato.schema.storage.snapshots import SNAPSHOTS

POLICIES = TableSpec(
    "snapshot_policies",
    "snapshot_policy",
    SnapshotPolicy,
    state_column=None,
    references={"volume_id": "volume"},
    owner="(SELECT v.owner FROM volumes v WHERE v.id = snapshot_policies.volume_id)",
)


def schedule_id(policy_id: UUID) -> str:
    return f"snapshot-policy:{policy_id}"


async def find(conn: Any, policy_id: UUID) -> SnapshotPolicy | None:
    row = await conn.fetchrow("SELECT * FROM snapshot_policies WHERE id = $1", policy_id)
    return POLICIES.to_model(row) if row is not None else None


async def drifted(conn: Any) -> list[Any]:
    """Policies whose schedule's pause state is not what their volume calls for (active
    while the volume is attached and Ready), and policies of expunged volumes."""
    rows: list[Any] = await conn.fetch(
        """SELECT p.id, p.schedule_id, p.paused, v.state AS volume_state, v.name AS volume,
                  (v.vm_id IS NOT NULL AND v.state = 'Ready') AS active
           FROM snapshot_policies p JOIN volumes v ON v.id = p.volume_id
           WHERE v.state = 'Expunged'
              OR p.paused = (v.vm_id IS NOT NULL AND v.state = 'Ready')
           ORDER BY p.created_at"""
    )
    return rows


async def set_paused(conn: Any, policy_id: UUID, paused: bool) -> None:
    await conn.execute(
        """UPDATE snapshot_policies SET paused = $2, version = version + 1,
                                        updated_at = clock_timestamp() WHERE id = $1""",
        policy_id,
        paused,
    )


async def beyond_keep(conn: Any, policy: SnapshotPolicy) -> list[Snapshot]:
    """The policy's snapshots past its last ``max_snaps`` (oldest first), that can go."""
    rows = await conn.fetch(
        """SELECT * FROM snapshots WHERE policy_id = $1 AND state <> 'Destroyed'
           ORDER BY created_at DESC, id OFFSET $2""",
        policy.id,
        policy.max_snaps,
    )
    kept = [SNAPSHOTS.to_model(r) for r in rows]
    return [s for s in reversed(kept) if s.state in ("CreatedOnPrimary", "BackedUp", "Error")]
