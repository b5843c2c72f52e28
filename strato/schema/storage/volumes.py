"""Volume rows: root volumes follow their VM."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.states import VolumeState
from strato.domain.storage.models import Volume
from strato.schema.repository import TableSpec
from strato.schema.transitions import VOLUME, transition

VOLUMES = TableSpec(
    "volumes",
    "volume",
    Volume,
    references={"zone_id": "zone", "pool_id": "storage pool", "vm_id": "VM"},
    dependents={"pool_claims": "a storage claim"},
)


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
