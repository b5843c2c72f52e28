"""The operation view every front door shows: state, step, progress, error, result.

Read from Temporal through the operations index (:mod:`strato.schema.operations`) while the
operation runs; once it has ended, its view is recorded in PostgreSQL (by the first reader,
or by the orchestrator's sweep, :func:`record_ended`) and served from there, so it outlives
Temporal's retention. A run Temporal no longer has, with nothing recorded, is ``unknown``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from strato.domain.progress import StepProgress
from strato.domain.states import OperationState
from strato.schema import operations as repo
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.settings import Settings


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
    # A transfer under way (a template download or copy): bytes done and, when known,
    # the total, from the running step's last heartbeat.
    bytes_done: int | None = None
    bytes_total: int | None = None
    error: OperationError | None = None
    result: dict[str, Any] | None = None
    workflow_id: str
    run_id: str | None
    temporal_ui: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None


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


ENDED = frozenset({OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED})
OUTCOME_FIELDS = (
    "state",
    "step",
    "progress",
    "detail",
    "error",
    "result",
    "started_at",
    "ended_at",
)


async def view(
    client: Client, op: OperationRecord, *, ui_url: str, db: Database | None = None
) -> OperationView:
    """The operation now: its recorded outcome, or Temporal's view of its run (recorded
    when ``db`` is given and the run has ended)."""
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
    if op.outcome is not None:
        return OperationView(**base, **op.outcome)
    if not op.run_id:
        return OperationView(**base, state=OperationState.PENDING, step="pending", progress=0)
    shown = await _live(client, op, base)
    if db is not None and shown.state in ENDED:
        async with db.conn() as conn:
            await repo.record_outcome(
                conn, op.id, shown.model_dump(mode="json", include=set(OUTCOME_FIELDS))
            )
    return shown


async def _live(client: Client, op: OperationRecord, base: dict[str, Any]) -> OperationView:
    handle = client.get_workflow_handle(op.workflow_id, run_id=op.run_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return OperationView(
            **base,
            state=OperationState.UNKNOWN,
            step="unknown",
            progress=100,
            error=OperationError(
                type="history-expired",
                message="Temporal no longer keeps this operation's run and its outcome was "
                "not recorded; the resource's state and events tell what happened",
            ),
        )
    state = (
        _STATES.get(desc.status, OperationState.RUNNING) if desc.status else OperationState.RUNNING
    )
    extra: dict[str, Any] = {"started_at": desc.start_time, "ended_at": desc.close_time}
    if state == OperationState.RUNNING:
        progress = await _progress(handle)
        done, total = _transfer(client, desc)
        return OperationView(
            **base,
            **extra,
            state=state,
            step=progress.step,
            progress=progress.percent,
            detail=progress.detail,
            bytes_done=done,
            bytes_total=total,
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


def _transfer(client: Client, desc: Any) -> tuple[int | None, int | None]:
    """Bytes done and total of a running transfer step, from its last heartbeat's
    details (``{"phase": ..., "done": n, "total": m}``); (None, None) when none runs."""
    for pending in desc.raw_description.pending_activities:
        payloads = pending.heartbeat_details.payloads
        if not payloads:
            continue
        try:
            (details,) = client.data_converter.payload_converter.from_payloads(
                [payloads[0]], [dict]
            )
        except Exception:  # not ours to read: no progress shown, nothing breaks
            continue
        if isinstance(details, dict) and isinstance(details.get("done"), int):
            total = details.get("total")
            return details["done"], total if isinstance(total, int) else None
    return None, None


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


class Accepted(BaseModel):
    """What accepting an operation answers (REST: the 202 body)."""

    operation: OperationView
    resource: dict[str, Any] | None = None


async def respond(
    temporal: Client,
    settings: Settings,
    record: OperationRecord,
    resource: BaseModel | None,
    *,
    created: bool = True,
    db: Database | None = None,
) -> Accepted:
    """The 202 body. A repeated (idempotent) request shows the operation's real state."""
    ui = settings.resolved_temporal_ui_url()
    if created:
        shown = accepted_view(temporal.namespace, record, ui_url=ui)
    else:
        shown = await view(temporal, record, ui_url=ui, db=db)
    return Accepted(
        operation=shown, resource=resource.model_dump(mode="json") if resource else None
    )


async def record_ended(db: Database, client: Client, *, limit: int = 20) -> int:
    """Record the outcome of ended operations nobody has read yet (the orchestrator runs
    this in its sweep), least recently checked first; returns how many were recorded."""
    async with db.conn() as conn:
        open_ops = await repo.open_ones(conn, older_than_s=2.0, limit=limit)
    recorded = 0
    for op in open_ops:
        shown = await view(client, op, ui_url="", db=db)
        recorded += shown.state in ENDED
    return recorded
