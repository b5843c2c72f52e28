"""The activities behind :mod:`strato.sdk.workflow`: a call of the REST API made once
(retried with one idempotency key, so a step repeated after a crash is the same
request), and the wait for what it started. They run in the developer's worker
(:mod:`strato.sdk.worker`) with its API client.

Errors become Temporal failures the workflow can read: a refusal that retrying cannot
change (a 4xx: invalid input, not found, name taken, ...) or a failed operation is a
non-retryable ``ApplicationError`` whose ``type`` is the problem's code
(``invalid-input``, ``not-found``, ... ``operation-failed``) and whose first detail is
the problem (or the operation); a busy resource, a 429, a 5xx or a lost connection is
retried by Temporal's retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.sdk import core
from strato.sdk.aio import AsyncStratoClient
from strato.sdk.core import Call
from strato.sdk.errors import ApiError, NotFound, OperationFailed

CALL = "strato.sdk.call"
WAIT_FOR = "strato.sdk.wait_for"
POLL_S = 0.5


class StepCall(BaseModel):
    """One request: ``method`` ``path`` (under /api/v1) with ``body``/``params``. A 202
    is waited for (``wait``) and then the resource read again at ``read``."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    wait: bool = True
    read: str | None = None


class StepResult(BaseModel):
    """The answer (201/200 body, or the 202 one), the ended operation, and the resource
    as it is after it (None when there is none to read: gone, or not asked)."""

    answer: Any = None
    operation: dict[str, Any] | None = None
    resource: dict[str, Any] | None = None


class WaitFor(BaseModel):
    """Until the resource at ``path`` is in one of ``states`` (``timeout_s``: then fail)."""

    path: str
    states: list[str] = Field(default_factory=list)
    timeout_s: float = 600.0


def _retryable(err: ApiError) -> bool:
    # Busy: another operation holds the resource (VM, volume, backup, snapshot,
    # template, host). A key reused for another request is a conflict too, and final.
    busy = err.code == "conflict" and "busy" in err.detail
    return busy or err.status in (408, 429) or err.status >= 500


def _failure(err: ApiError) -> ApplicationError:
    return ApplicationError(str(err), err.problem, type=err.code, non_retryable=True)


def idempotency_key() -> str:
    """The same for every attempt of this step of this run (a retry after a crash is
    the same request to the API)."""
    info = activity.info()
    step = f"{info.workflow_namespace}/{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    return "sdk-" + hashlib.sha256(step.encode()).hexdigest()


@contextlib.asynccontextmanager
async def _heartbeating(every_s: float = 2.0) -> AsyncIterator[None]:
    """Heartbeat while the step runs, also while one request is slow (the heartbeat
    timeout is shorter than an HTTP timeout): a step is retried only when its worker
    is gone, never beside a slow first attempt."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class StratoSteps:
    """The SDK's activities, bound to one API client."""

    def __init__(self, api: AsyncStratoClient) -> None:
        self.api = api

    def all(self) -> list[Any]:
        """The activities, for a worker's ``activities``."""
        return [self.call, self.wait_for]

    @activity.defn(name=CALL)
    async def call(self, step: StepCall) -> StepResult:
        """One request made once (its fixed key), its operation waited for, the resource read."""
        async with _heartbeating():
            return await self._call(step)

    async def _call(self, step: StepCall) -> StepResult:
        try:
            answer, op_id = await self._send(step)
            if not (step.wait and op_id):
                return StepResult(answer=answer, resource=await self._read(step.read))
            op = await self._wait(op_id)
            return StepResult(answer=answer, operation=op, resource=await self._read(step.read))
        except ApiError as err:
            if _retryable(err):
                raise
            raise _failure(err) from err
        except OperationFailed as err:
            raise ApplicationError(
                str(err), err.operation, type="operation-failed", non_retryable=True
            ) from err

    async def _send(self, step: StepCall) -> tuple[Any, str | None]:
        """The answer, and the operation it started: a 202's, or the one a rule change
        names in ``Operation-Location`` (its network's apply)."""
        if step.method == "POST":
            post = core.post(step.path, step.body, idempotency_key())
            call = Call(post.method, post.path, step.params, post.json, post.headers)
        else:
            call = Call(step.method, step.path, step.params, step.body)
        response = await self.api.http.request(call.method, call.path, **call.kwargs())
        try:
            answer = core.decode(response)
        except NotFound:
            if step.method == "DELETE" and activity.info().attempt > 1:
                return None, None  # deleted by this step's earlier attempt
            raise
        if isinstance(answer, dict) and isinstance(answer.get("operation"), dict):
            return answer, core.operation_of(answer)
        location = response.headers.get("Operation-Location")
        return answer, location.rsplit("/", 1)[-1] if location else None

    async def _wait(self, op_id: str) -> dict[str, Any]:
        while True:
            op: dict[str, Any] = await self.api.get(f"/operations/{op_id}")
            activity.heartbeat(op_id, op["step"], op["progress"])
            if op["state"] in core.TERMINAL:
                return core.outcome(op, raise_on_failure=True)
            await asyncio.sleep(POLL_S)

    async def _read(self, path: str | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            found: dict[str, Any] = await self.api.get(path)
            return found
        except NotFound:
            return None

    @activity.defn(name=WAIT_FOR)
    async def wait_for(self, want: WaitFor) -> dict[str, Any]:
        """Until the resource is in one of the states (heartbeating what it sees)."""
        async with _heartbeating():
            return await self._wait_for(want)

    async def _wait_for(self, want: WaitFor) -> dict[str, Any]:
        deadline = time.monotonic() + want.timeout_s
        while True:
            try:
                resource: dict[str, Any] = await self.api.get(want.path)
            except ApiError as err:
                if _retryable(err):
                    raise
                raise _failure(err) from err
            except httpx.TransportError:
                resource = {}
            state = resource.get("state")
            activity.heartbeat(state)
            if state in want.states:
                return resource
            if time.monotonic() > deadline:
                raise ApplicationError(
                    f"{want.path} is {state}, not {want.states}, after {want.timeout_s:g}s",
                    type="wait-timeout",
                    non_retryable=True,
                )
            await asyncio.sleep(POLL_S)
