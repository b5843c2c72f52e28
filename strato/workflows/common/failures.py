"""Reading activity failures in workflow code: the message and type a user can act on.

A failed remote activity arrives as an ActivityError wrapping the ApplicationError; a
failed local activity arrives as the ApplicationError itself. Both are FailureErrors.
"""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError


def failure_reason(err: BaseException) -> str:
    """The innermost message of a failure, which is the one a user can act on."""
    cause: BaseException | None = err
    message = str(err)
    while cause is not None:
        text = cause.message if isinstance(cause, FailureError) else str(cause)
        if text:
            message = text
        cause = cause.__cause__
    if isinstance(err, ActivityError) and err.retry_state is not None:
        name = err.retry_state.name
        if "TIMEOUT" in name or message in ("", "activity timeout", "Activity task timed out"):
            return f"{message} ({name.lower()})"
    return message


def error_type(err: BaseException) -> str:
    """The ApplicationError type at the root of a failure."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type:
            return cause.type
        cause = cause.__cause__
    return "activity-failed"


def cancelled(err: BaseException) -> bool:
    """Whether a failure is the operation's cancellation reaching a step (not a fault of
    the host or pool it ran on)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, CancelledError):
            return True
        cause = cause.__cause__
    return False
