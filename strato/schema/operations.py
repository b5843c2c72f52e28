"""Operations index: which Temporal execution serves which request.

State, step, progress and errors are read from Temporal; this table only maps an
operation id (and an optional Idempotency-Key) to a workflow id and run id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from strato.domain.errors import Conflict, NotFound


class OperationRecord(BaseModel):
    id: UUID
    kind: str
    resource_type: str
    resource_id: UUID | None
    workflow_id: str
    workflow_type: str
    task_queue: str = "orchestration"
    input: dict[str, Any] = {}
    search_attributes: dict[str, str] = {}
    run_id: str | None
    idempotency_key: str | None
    request_hash: str | None
    created_at: datetime
    # The view of the ended operation (state, error, result, times), once recorded.
    outcome: dict[str, Any] | None = None


async def lock_key(conn: Any, idempotency_key: str) -> None:
    """Serialize requests carrying one Idempotency-Key until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", idempotency_key)


async def find_by_key(conn: Any, idempotency_key: str) -> OperationRecord | None:
    row = await conn.fetchrow(
        "SELECT * FROM operations WHERE idempotency_key = $1", idempotency_key
    )
    return OperationRecord.model_validate(dict(row)) if row else None


async def insert(
    conn: Any,
    *,
    id: UUID,
    kind: str,
    resource_type: str,
    resource_id: UUID | None,
    workflow_id: str,
    workflow_type: str,
    input: dict[str, Any],
    search_attributes: dict[str, str],
    task_queue: str = "orchestration",
    idempotency_key: str | None,
    request_hash: str | None,
) -> OperationRecord:
    # ON CONFLICT makes two concurrent requests with one key agree on a single operation.
    row = await conn.fetchrow(
        """INSERT INTO operations (id, kind, resource_type, resource_id, workflow_id,
                                   workflow_type, task_queue, input, search_attributes,
                                   idempotency_key, request_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING *""",
        id,
        kind,
        resource_type,
        resource_id,
        workflow_id,
        workflow_type,
        task_queue,
        input,
        search_attributes,
        idempotency_key,
        request_hash,
    )
    if row is None:
        assert idempotency_key is not None
        existing = await find_by_key(conn, idempotency_key)
        if existing is None:  # the other request's transaction rolled back
            raise Conflict("a request with this Idempotency-Key failed; retry it")
        if existing.request_hash != request_hash:
            raise Conflict(
                "Idempotency-Key was already used for a different request",
                operation_id=str(existing.id),
            )
        return existing
    return OperationRecord.model_validate(dict(row))


async def record_outcome(conn: Any, id: UUID, outcome: dict[str, Any]) -> None:
    """Keep an ended operation's outcome (the first one recorded stands)."""
    await conn.execute(
        "UPDATE operations SET outcome = $2 WHERE id = $1 AND outcome IS NULL", id, outcome
    )


async def open_ones(conn: Any, *, older_than_s: float, limit: int) -> list[OperationRecord]:
    """Started operations without a recorded outcome, least recently checked first; marks
    them checked now (so a long-running one does not hold the head of the line)."""
    rows = await conn.fetch(
        """UPDATE operations SET outcome_checked_at = clock_timestamp()
           WHERE id IN (
               SELECT id FROM operations
               WHERE outcome IS NULL AND run_id IS NOT NULL
                 AND created_at < clock_timestamp() - make_interval(secs => $1)
               ORDER BY coalesce(outcome_checked_at, created_at) LIMIT $2
               FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        older_than_s,
        limit,
    )
    return [OperationRecord.model_validate(dict(r)) for r in rows]


async def set_run_id(conn: Any, id: UUID, run_id: str | None) -> None:
    await conn.execute("UPDATE operations SET run_id = $2 WHERE id = $1", id, run_id)


async def get(conn: Any, id: UUID) -> OperationRecord:
    row = await conn.fetchrow("SELECT * FROM operations WHERE id = $1", id)
    if row is None:
        raise NotFound(f"operation {id} does not exist", id=str(id))
    return OperationRecord.model_validate(dict(row))


async def list_recent(
    conn: Any, *, resource_id: UUID | None = None, limit: int = 50, before: datetime | None = None
) -> list[OperationRecord]:
    rows = await conn.fetch(
        """SELECT * FROM operations
           WHERE ($1::uuid IS NULL OR resource_id = $1)
             AND ($2::timestamptz IS NULL OR created_at < $2)
           ORDER BY created_at DESC, id DESC LIMIT $3""",
        resource_id,
        before,
        limit,
    )
    return [OperationRecord.model_validate(dict(r)) for r in rows]


async def unstarted(conn: Any, *, older_than_s: float, limit: int = 100) -> list[OperationRecord]:
    """Operations whose workflow start was never recorded (the starter died)."""
    rows = await conn.fetch(
        """SELECT * FROM operations
           WHERE run_id IS NULL AND created_at < clock_timestamp() - make_interval(secs => $1)
           ORDER BY created_at LIMIT $2""",
        older_than_s,
        limit,
    )
    return [OperationRecord.model_validate(dict(r)) for r in rows]
