"""AddHost: connect a host's agent, read its capacity, mark it Up (or Error, with why)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric import flows
    from strato.domain.fabric.payloads import (
        AddHostInput,
        AddHostResult,
        ConnectHostInput,
        HostConnectedInput,
        HostTransitionInput,
    )
    from strato.domain.fabric.steps import CONNECT_HOST, HOST_CONNECTED, HOST_TRANSITION
    from strato.domain.ids import compute_queue
    from strato.domain.progress import StepProgress
    from strato.workflows.common import calls
    from strato.workflows.common.failures import failure_reason
    from strato.workflows.common.guard import guarded
    from strato.workflows.common.progress import Steps

_RECORD_TIMEOUT = timedelta(seconds=30)
_RECORD_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=20)


@workflow.defn(name=flows.ADD_HOST.name)
class AddHostWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("connecting", "reading host facts", "recording capacity")
        self.settled = False

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    async def _transition(self, inp: AddHostInput, target: str, reason: str | None = None) -> None:
        await calls.local(
            HOST_TRANSITION,
            HostTransitionInput(
                host_id=inp.host_id, target=target, reason=reason, operation_id=inp.operation_id
            ),
            timeout=_RECORD_TIMEOUT,
            retry=_RECORD_RETRY,
        )
        self.settled = target in ("Up", "Error")

    @workflow.run
    async def run(self, inp: AddHostInput) -> AddHostResult:
        async def settle(reason: str, kind: str) -> None:
            # The host ends in Error, saying why, unless the operation already settled it.
            if not self.settled:
                await self._transition(inp, "Error", reason)

        return await guarded(self._run(inp), settle)

    async def _run(self, inp: AddHostInput) -> AddHostResult:
        self.steps.enter("connecting")
        await self._transition(inp, "Connecting")

        queue = compute_queue(inp.host_name)
        self.steps.enter("reading host facts", f"waiting for the agent on {queue}")
        try:
            facts = await calls.remote(
                CONNECT_HOST,
                ConnectHostInput(host_id=inp.host_id, host_name=inp.host_name),
                queue=queue,
                # No agent polling the queue = the host is not there: fail fast.
                reach=timedelta(seconds=inp.connect_timeout_s),
                timeout=timedelta(seconds=60),
                retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
            )
        except ActivityError as err:
            reason = failure_reason(err)
            if "SCHEDULE_TO_START" in reason.upper() or "schedule" in reason.lower():
                reason = (
                    f"no agent answered on {queue} within {inp.connect_timeout_s:g}s ({reason})"
                )
            # Compensation: the host is left in a defined state that says why.
            await self._transition(inp, "Error", reason)
            raise ApplicationError(
                f"host {inp.host_name} could not be connected: {reason}",
                type="host-connect-failed",
                non_retryable=True,
            ) from err

        self.steps.enter("recording capacity")
        result: AddHostResult = await calls.local(
            HOST_CONNECTED,
            HostConnectedInput(host_id=inp.host_id, facts=facts, operation_id=inp.operation_id),
            timeout=_RECORD_TIMEOUT,
            retry=_RECORD_RETRY,
        )
        self.settled = True
        self.steps.finish(f"{facts.cpu_cores} cores, {facts.memory_total_mb} MiB")
        return result
