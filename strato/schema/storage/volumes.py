"""Volume rows: root volumes follow their VM."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.storage.models import Volume
from strato.schema import events
from strato.schema.repository import TableSpec

VOLUMES = TableSpec(
    "volumes",
    "volume",
    Volume,
    references={"zone_id": "zone", "pool_id": "storage pool", "vm_id": "VM"},
    dependents={"pool_claims": "a storage claim"},
)


def storage_name(volume_id: UUID) -> str:
    return f"strato-vol-{volume_id}"


async def set_state(conn: Any, volume_id: UUID, state: str, *, path: str | None = None) -> None:
    old = await conn.fetchval("SELECT state FROM volumes WHERE id = $1 FOR UPDATE", volume_id)
    if old is None or (old == state and path is None):
        return
    await conn.execute(
        """UPDATE volumes SET state = $2, path = coalesce($3, path), version = version + 1,
                              updated_at = clock_timestamp() WHERE id = $1""",
        volume_id,
        state,
        path,
    )
    if old != state:
        await events.append(
            conn, "strato.volume.state_changed", "volume", volume_id, old_state=old, new_state=state
        )


async def for_vm(conn: Any, vm_id: UUID) -> list[Volume]:
    rows = await conn.fetch("SELECT * FROM volumes WHERE vm_id = $1 ORDER BY created_at", vm_id)
    return [VOLUMES.to_model(r) for r in rows]
