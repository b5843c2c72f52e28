"""Calling a typed step from a workflow: the step says the name, input and result type."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from strato.workflows.common import routing

with workflow.unsafe.imports_passed_through():
    from strato.domain.steps import Step

I = TypeVar("I")  # noqa: E741 - the input type
R = TypeVar("R")


def _args(step: Step[Any, Any], arg: object) -> list[Any]:
    return [] if step.arg is None else [arg]


async def local(
    step: Step[I, R],
    arg: I,
    *,
    timeout: timedelta,  # noqa: ASYNC109 - Temporal's start-to-close timeout
    retry: RetryPolicy,
) -> R:
    """A data-service step, run by the orchestrator worker beside the workflow."""
    result = await workflow.execute_local_activity(
        step.name,
        args=_args(step, arg),
        result_type=step.result,
        start_to_close_timeout=timeout,
        retry_policy=retry,
    )
    return cast(R, result)


async def remote(
    step: Step[I, R],
    arg: I,
    *,
    queue: str,
    timeout: timedelta,  # noqa: ASYNC109 - Temporal's start-to-close timeout
    retry: RetryPolicy,
    reach: timedelta | None = None,
    heartbeat: timedelta | None = None,
) -> R:
    """A step on another worker's queue (a host's agent, a pool): ``reach`` bounds how long
    it may wait for that worker to take it, so a dead agent fails the step fast. A host's
    step goes where its agent serves it (:mod:`routing`)."""
    where = await routing.route(queue)
    try:
        result = await workflow.execute_activity(
            step.name,
            args=_args(step, arg),
            result_type=step.result,
            task_queue=where.queue,
            activity_id=where.activity_id,
            schedule_to_start_timeout=reach,
            start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat,
            retry_policy=retry,
        )
    except ActivityError as err:
        routing.failed(where, err)
        raise
    return cast(R, result)
