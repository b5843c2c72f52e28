"""Operations: the resource a 202 returns, backed by Temporal executions.

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
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from strato.domain.payloads import StepProgress
from strato.domain.states import OperationState
from strato.schema import operations as repo
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.workflows.search_attributes import typed

log = logging.getLogger(__name__)


class OperationError(BaseModel):
    type: str
    message: str


class OperationView(BaseModel):
    id: UUID
    kind: str
    resource_type: str
    resource_id: UUID | None
    state: OperationState
    step: str
    progress: int
    detail: str = ""
    error: OperationError | None = None
    result: dict[str, Any] | None = None
    workflow_id: str
    run_id: str | None
    temporal_ui: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


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


_STATES: dict[Any, OperationState] = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: OperationState.RUNNING,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: OperationState.SUCCEEDED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: OperationState.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: OperationState.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: OperationState.FAILED,
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: OperationState.CANCELLED,
}


def ui_link(ui_url: str, namespace: str, workflow_id: str, run_id: str | None) -> str:
    base = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/"
    link = base + quote(workflow_id, safe="")
    return f"{link}/{run_id}/history" if run_id else link


def accepted_view(namespace: str, op: OperationRecord, *, ui_url: str) -> OperationView:
    """The view of an operation just started, built without asking Temporal (a 202 must
    be cheap; a query would cost a workflow-task round trip)."""
    return OperationView(
        id=op.id,
        kind=op.kind,
        resource_type=op.resource_type,
        resource_id=op.resource_id,
        workflow_id=op.workflow_id,
        run_id=op.run_id,
        created_at=op.created_at,
        temporal_ui=ui_link(ui_url, namespace, op.workflow_id, op.run_id),
        state=OperationState.RUNNING if op.run_id else OperationState.PENDING,
        step="accepted",
        progress=0,
    )


async def view(client: Client, op: OperationRecord, *, ui_url: str) -> OperationView:
    """The operation as Temporal sees it now."""
    base = {
        "id": op.id,
        "kind": op.kind,
        "resource_type": op.resource_type,
        "resource_id": op.resource_id,
        "workflow_id": op.workflow_id,
        "run_id": op.run_id,
        "created_at": op.created_at,
        "temporal_ui": ui_link(ui_url, client.namespace, op.workflow_id, op.run_id),
    }
    if not op.run_id:
        return OperationView(**base, state=OperationState.PENDING, step="pending", progress=0)
    handle = client.get_workflow_handle(op.workflow_id, run_id=op.run_id)
    desc = await handle.describe()
    state = (
        _STATES.get(desc.status, OperationState.RUNNING) if desc.status else OperationState.RUNNING
    )
    extra: dict[str, Any] = {"started_at": desc.start_time, "ended_at": desc.close_time}
    if state == OperationState.RUNNING:
        progress = await _progress(handle)
        return OperationView(
            **base,
            **extra,
            state=state,
            step=progress.step,
            progress=progress.percent,
            detail=progress.detail,
        )
    if state == OperationState.SUCCEEDED:
        result = await handle.result()
        data = result if isinstance(result, dict) else {"value": result}
        return OperationView(**base, **extra, state=state, step="done", progress=100, result=data)
    return OperationView(
        **base,
        **extra,
        state=state,
        step="failed" if state == OperationState.FAILED else "cancelled",
        progress=100,
        error=await _error(handle, desc.status),
    )


async def _progress(handle: Any) -> StepProgress:
    try:
        progress: StepProgress = await handle.query(
            "progress", result_type=StepProgress, rpc_timeout=timedelta(seconds=2)
        )
        return progress
    except (RPCError, FailureError) as err:
        # No worker to answer (it is restarting): the run is alive, its step unknown.
        return StepProgress(step="running", detail=f"progress unavailable: {err}")


async def _error(handle: Any, status: Any) -> OperationError:
    try:
        await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return OperationError(type=cause.type or "application-error", message=cause.message)
        return OperationError(type=type(cause).__name__, message=str(cause))
    except Exception as err:  # a terminated/timed-out run raises its own kinds
        return OperationError(type=type(err).__name__, message=str(err))
    return OperationError(type="unknown", message=f"workflow ended with status {status}")
