"""The one guard every operation's workflow runs inside.

An operation's code handles the failures it expects (a host that fails a start, a full
network) with its own compensation. Whatever else ends it (an unexpected exception in
workflow code, a non-retryable error from a step nobody wrapped, a step that timed out,
a cancellation), :func:`guarded` gives the resource one last step, ``settle``, which
puts it in a defined state and releases its lock, then lets the workflow fail.

``settle`` decides for itself whether there is anything to do (an operation that already
finished, or never took its resource's lock, has nothing to settle), so on every path the
code already handled it schedules nothing, and stored histories replay unchanged.

Failures that are not :class:`FailureError` (bugs in workflow code) would otherwise fail
the workflow *task*, which Temporal retries forever with the resource locked; the guard
turns them into a failed operation with the reason, after settling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.workflows.common.failures import error_type, failure_reason

T = TypeVar("T")

# (reason, error type) -> None; runs the resource's settling step if it has one.
Settle = Callable[[str, str], Awaitable[None]]


def describe(err: BaseException) -> tuple[str, str]:
    """The reason and error type of whatever ended an operation."""
    if isinstance(err, asyncio.CancelledError):
        return "the operation was cancelled", "cancelled"
    if isinstance(err, FailureError):
        return failure_reason(err), error_type(err)
    return f"unexpected error: {type(err).__name__}: {err}", "internal-error"


async def guarded(body: Awaitable[T], settle: Settle) -> T:
    """Run an operation's body; on any failure it did not handle, settle, then fail."""
    try:
        return await body
    except (Exception, asyncio.CancelledError) as err:
        reason, kind = describe(err)
        try:
            await settle(reason, kind)
        except FailureError as settle_err:
            workflow.logger.error(
                "settling after '%s' failed: %s", reason, failure_reason(settle_err)
            )
        if isinstance(err, (FailureError, asyncio.CancelledError)):
            raise
        raise ApplicationError(reason, type=kind, non_retryable=True) from err
