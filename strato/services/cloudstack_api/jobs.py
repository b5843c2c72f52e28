"""CloudStack's async jobs on Strato's operations: ``queryAsyncJobResult`` and
``listAsyncJobs``. A job's status comes from its operation (running: 0, succeeded: 1,
failed: 2); its result is its resource as the list command shows it (or
``{"success": true}`` when its command removed it), or the error. A job is its
account's: another account's is as unknown as a missing one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from strato.commands import view as operations
from strato.commands.view import ENDED, Accepted
from strato.domain.states import OperationState
from strato.schema import operations as ops
from strato.services.cloudstack_api import render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import PAGING
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.schema import jobs as store
from strato.services.cloudstack_api.schema.views import View, listing

# How a job's resource is shown once done: its type's reader, by instance type.
Reader = Callable[[Call, UUID], Awaitable[dict[str, Any] | None]]
READERS: dict[str, tuple[str, Reader]] = {}

# CloudStack's command classes, as a job's ``cmd`` names them.
_PACKAGE = "org.apache.cloudstack.api.command.user"


def reader(instance_type: str, item: str) -> Callable[[Reader], Reader]:
    def register(fn: Reader) -> Reader:
        READERS[instance_type] = (item, fn)
        return fn

    return register


def view_reader(view: View, shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Reader:
    """A reader of one row of ``view``, shown as ``shape`` shows it (its list's shape)."""

    async def read(call: Call, row_id: UUID) -> dict[str, Any] | None:
        async with call.ctx.db.conn() as conn:
            _, rows = await listing(
                conn, view, owners=None, filters=[], offset=0, limit=1, ids=[row_id]
            )
        return shape(rows[0]) if rows else None

    return read


async def operation_view(call: Call, op_id: UUID) -> operations.OperationView:
    async with call.ctx.db.conn() as conn:
        record = await ops.get(conn, op_id)
    ui = call.ctx.settings.resolved_temporal_ui_url()
    return await operations.view(call.ctx.temporal, record, ui_url=ui, db=call.ctx.db)


async def wait(call: Call, accepted: Accepted, timeout_s: float = 120.0) -> None:
    """Wait for an operation a synchronous CloudStack command started (CloudStack
    answers these when done); its failure is this command's error."""
    deadline = time.monotonic() + timeout_s
    pause = 0.05
    while True:
        shown = await operation_view(call, accepted.operation.id)
        if shown.state in ENDED:
            break
        if time.monotonic() > deadline:
            raise wire.CsError(
                wire.INTERNAL,
                f"operation {shown.id} is still {shown.state} after {timeout_s:.0f} s; "
                "it goes on (see it in Strato's operations)",
                wire.CS_RUNTIME,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.5)
    if shown.state != OperationState.SUCCEEDED:
        message = shown.error.message if shown.error else f"operation {shown.state}"
        raise wire.CsError(wire.INTERNAL, message, wire.CS_RUNTIME)


async def _settled(call: Call, job: dict[str, Any]) -> dict[str, Any]:
    """The job, settled from its operation when that has ended."""
    if job["status"] != 0 or job["operation_id"] is None:
        return job
    shown = await operation_view(call, job["operation_id"])
    if shown.state not in ENDED and shown.state != OperationState.UNKNOWN:
        return job
    if shown.state == OperationState.SUCCEEDED:
        status, code = 1, 0
        result = job["result"] if job["result"] is not None else await _result(call, job)
    else:
        message = shown.error.message if shown.error else f"the operation was {shown.state}"
        if shown.state == OperationState.UNKNOWN:
            message = "the operation's outcome is unknown (Temporal no longer has its run)"
        status, code = 2, wire.INTERNAL
        result = {"errorcode": wire.INTERNAL, "errortext": message}
    async with call.ctx.db.conn() as conn:
        await store.settle(conn, job["id"], status, code, result)
    return {**job, "status": status, "result_code": code, "result": result}


async def _result(call: Call, job: dict[str, Any]) -> dict[str, Any]:
    item = job.get("item")
    found = READERS.get(job["instance_type"])
    if item and found is not None and job["instance_id"] is not None:
        shown = await found[1](call, job["instance_id"])
        if shown is not None:
            return {item: shown}
    return {"success": True}


async def applied(
    call: Call, op_id: UUID | None, instance_type: str, instance_id: UUID | None
) -> dict[str, Any]:
    """The job of a change that may have started an operation (a network's rules
    applied on its router): on it, or done at once with its resource as the result."""
    if op_id is not None:
        return await call.job(op_id, instance_type, instance_id)
    job = {"item": call.cmd.item, "instance_type": instance_type, "instance_id": instance_id}
    return await call.job(None, instance_type, instance_id, result=await _result(call, job))


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "jobid": str(job["id"]),
        "accountid": job["owner"] or None,
        "userid": job["user_id"] or None,
        "cmd": f"{_PACKAGE}.{job['command']}Cmd",
        "jobstatus": job["status"],
        "jobprocstatus": 0,
        "jobresultcode": job["result_code"],
        "created": render.date(job["created_at"]),
    }
    if job["instance_type"]:
        out["jobinstancetype"] = job["instance_type"]
    if job["instance_id"] is not None:
        out["jobinstanceid"] = str(job["instance_id"])
    if job["status"] != 0:
        out["jobresulttype"] = "object"
        out["jobresult"] = job["result"] or {}
        if job.get("completed_at") is not None:
            out["completed"] = render.date(job["completed_at"])
    return {k: v for k, v in out.items() if v is not None}


def _owners(call: Call) -> list[str] | None:
    caller = call.ctx.caller
    return None if caller.owners is None else sorted(caller.owners)


@command(
    "queryAsyncJobResult",
    "An async job's status and, once done, its result",
    P("jobid", "uuid", required=True, description="the job"),
    response=("jobid", "jobstatus", "jobresultcode", "jobresulttype", "jobresult"),
)
async def query_async_job_result(call: Call) -> dict[str, Any]:
    async with call.ctx.db.conn() as conn:
        job = await store.get(conn, call["jobid"], _owners(call))
    if job is None:
        raise wire.param_error(f"Unable to find a job by id {call['jobid']}")
    return job_view(await _settled(call, job))


@command(
    "listAsyncJobs",
    "Lists the caller's async jobs, newest first",
    *PAGING,
    P("listall", "boolean"),
    item="asyncjobs",
    response=("jobid", "jobstatus", "cmd", "created"),
)
async def list_async_jobs(call: Call) -> dict[str, Any]:
    offset, limit = call.page()
    async with call.ctx.db.conn() as conn:
        count, rows = await store.page(conn, call.owners(), offset, limit)
    if not count:
        return {}
    return {"count": count, "asyncjobs": [job_view(await _settled(call, r)) for r in rows]}
