"""The transactional outbox: append in the writer's transaction, read in id order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain import events as catalog
from strato.domain.models import Event

# Held from just before the insert to commit, so ids are committed in id order and a
# reader that resumes "after id N" can never miss a row that commits later with a
# smaller id. The hold is short: it is the last statement of each writing transaction.
_OUTBOX_LOCK_KEY = 0x5374726174_02


async def append(
    conn: Any,
    type: str,
    resource_type: str,
    resource_id: UUID | None,
    *,
    old_state: str | None = None,
    new_state: str | None = None,
    payload: dict[str, Any] | None = None,
    operation_id: UUID | None = None,
) -> int:
    """Write one event row. Must run inside the transaction that made the change."""
    if not conn.is_in_transaction():
        raise RuntimeError("events.append must run inside the changing transaction")
    catalog.check(type, payload)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _OUTBOX_LOCK_KEY)
    event_id: int = await conn.fetchval(
        """INSERT INTO events (type, resource_type, resource_id, old_state, new_state,
                               payload, operation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        type,
        resource_type,
        resource_id,
        old_state,
        new_state,
        payload or {},
        operation_id,
    )
    return event_id


async def list_after(
    conn: Any,
    after: int,
    limit: int = 100,
    *,
    resource_id: UUID | None = None,
    type_prefix: str | None = None,
) -> list[Event]:
    rows = await conn.fetch(
        """SELECT * FROM events
           WHERE id > $1
             AND ($2::uuid IS NULL OR resource_id = $2)
             AND ($3::text IS NULL OR type LIKE $3 || '%')
           ORDER BY id LIMIT $4""",
        after,
        resource_id,
        type_prefix,
        limit,
    )
    return [Event.model_validate(dict(r)) for r in rows]


async def last_id(conn: Any) -> int:
    value: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
    return value
