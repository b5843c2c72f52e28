"""Accepting an operation: intent, lock and operation row in one transaction, then the start.

Starting one is a two-phase outbox: the caller writes the intent and the operation row
(with the full start request) in one transaction; after commit, :func:`start` starts the
workflow and records its run id. If the process dies in between, the orchestrator's
:func:`sweep_unstarted` finds the row and starts it, so no resource is ever stranded in a
transitional state waiting for a workflow that never began.

One operation, one run: the workflow id carries the operation's id, and every run carries
it again in its memo (``operation_id``). A start or a sweep only ever adopts a run whose
memo names its own operation; nothing compares the clocks of Temporal and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from strato.domain.errors import Conflict
from strato.schema import operations as repo
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.workflows.common.search_attributes import typed

log = logging.getLogger(__name__)


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def record(
    conn: Any,
    *,
    id: UUID,
    kind: str,
    resource_type: str,
    resource_id: UUID | None,
    workflow_id: str,
    workflow_type: str,
    input: BaseModel,
    search_attributes: dict[str, str],
    task_queue: str,
    idempotency_key: str | None = None,
    request_body: Any = None,
) -> OperationRecord:
    """Phase one, inside the caller's transaction."""
    return await repo.insert(
        conn,
        id=id,
        kind=kind,
        resource_type=resource_type,
        resource_id=resource_id,
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        input=input.model_dump(mode="json"),
        search_attributes=search_attributes,
        task_queue=task_queue,
        idempotency_key=idempotency_key,
        request_hash=request_hash(request_body) if idempotency_key else None,
    )


async def start(db: Database, client: Client, op: OperationRecord, *, fresh: bool = False) -> str:
    """Phase two: start (or join) the workflow and remember its run id. Idempotent.

    ``fresh``: the caller recorded ``op`` in this request, so no run of it can exist yet
    and the look-up for one (needed by the sweep) is skipped.
    """
    if op.run_id:
        return op.run_id
    run_id = None if fresh else await _existing_run(client, op)
    if run_id is None:
        handle = await client.start_workflow(
            op.workflow_type,
            op.input,
            id=op.workflow_id,
            task_queue=op.task_queue,
            # The id is this operation's alone: an existing run is this operation's own
            # (a retried start), and a closed one is never run again.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=typed(op.search_attributes),
            memo={"operation_id": str(op.id)},
        )
        run_id = handle.result_run_id or ""
    async with db.conn() as conn:
        await repo.set_run_id(conn, op.id, run_id)
    return run_id


async def _existing_run(client: Client, op: OperationRecord) -> str | None:
    """The run of ``op``'s workflow id whose memo names ``op``, if one was started."""
    try:
        desc = await client.get_workflow_handle(op.workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await desc.memo()
    if memo.get("operation_id") == str(op.id):
        return desc.run_id
    raise OperationRunConflict(
        f"workflow {op.workflow_id} runs operation {memo.get('operation_id')!r}, "
        f"not {op.id}: refusing to adopt another operation's run"
    )


class OperationRunConflict(RuntimeError):
    """A workflow id names a run of a different operation (ids from before per-operation
    runs, or a bug): never adopted, never started over."""


async def sweep_unstarted(db: Database, client: Client, *, older_than_s: float = 5.0) -> int:
    """Start every operation whose starter died before starting it; return how many."""
    async with db.conn() as conn:
        pending = await repo.unstarted(conn, older_than_s=older_than_s)
    for op in pending:
        try:
            await start(db, client, op)
            log.warning("started orphaned operation %s (%s)", op.id, op.workflow_id)
        except (RPCError, OperationRunConflict) as err:
            log.error("cannot start orphaned operation %s: %s", op.id, err)
    return len(pending)


Build = Callable[[Any], Awaitable[OperationRecord]]


async def accept(
    db: Database,
    temporal: Client,
    *,
    idempotency_key: str | None,
    body: Any,
    build: Build,
) -> tuple[OperationRecord, bool]:
    """Run ``build`` (which writes intent and calls ``operations.record``) unless the
    key was seen; start the workflow. Returns (operation, created_now)."""
    async with db.tx() as conn:
        if idempotency_key is not None:
            await repo.lock_key(conn, idempotency_key)
            existing = await repo.find_by_key(conn, idempotency_key)
            if existing is not None:
                if existing.request_hash != request_hash(body):
                    raise Conflict(
                        "Idempotency-Key was already used for a different request",
                        operation_id=str(existing.id),
                    )
                created = False
                record = existing
            else:
                created = True
                record = await build(conn)
        else:
            created = True
            record = await build(conn)
    run_id = await start(db, temporal, record, fresh=created)
    return record.model_copy(update={"run_id": run_id}), created
