"""Fault injection into the orchestrator worker's steps, through Temporal interceptors.

- ``delay_s[name]``: the activity (local or not) waits this long before it runs, which
  widens a race window to a size a test can hit every time;
- ``fail[name]``: a predicate on the activity's argument; when it holds, the activity
  raises a non-retryable ``ApplicationError(type="injected-fault")`` without running;
- ``bug_before[name]``: a predicate on the argument; when it holds, the *workflow code*
  raises ``RuntimeError`` as it schedules that activity (a bug in an operation's code).

One injector is shared by the test and the worker; tests change it while the worker runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

Predicate = Callable[[Any], bool]


class FaultInjector(Interceptor):
    # Read from inside the workflow sandbox through the class (the class object is
    # handed to the sandbox as is, so this dict is the test's own).
    bug_before: dict[str, Predicate] = {}

    def __init__(self) -> None:
        self.delay_s: dict[str, float] = {}
        self.fail: dict[str, Predicate] = {}
        self.injected: list[str] = []
        FaultInjector.bug_before = {}

    def clear(self) -> None:
        self.delay_s.clear()
        self.fail.clear()
        FaultInjector.bug_before.clear()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Activity(next, self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowIn


class _Activity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, faults: FaultInjector) -> None:
        super().__init__(next)
        self.faults = faults

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        delay = self.faults.delay_s.get(name)
        if delay:
            await asyncio.sleep(delay)
        when = self.faults.fail.get(name)
        if when is not None and when(input.args[0] if input.args else None):
            self.faults.injected.append(name)
            raise ApplicationError(
                f"injected fault in {name}", type="injected-fault", non_retryable=True
            )
        return await self.next.execute_activity(input)


class _WorkflowIn(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOut(outbound))


class _WorkflowOut(WorkflowOutboundInterceptor):
    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        when = FaultInjector.bug_before.get(input.activity)
        if when is not None and when(input.args[0] if input.args else None):
            raise RuntimeError(f"injected bug before {input.activity}")
        return super().start_local_activity(input)
