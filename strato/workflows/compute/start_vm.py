"""StartVm: a Stopped VM is placed again (its last host preferred) and booted."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import DeployVmInput, Placement, VmContext, VmResult
    from strato.domain.progress import StepProgress
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.boot import (
        PLACE_IN_ONE_STEP,
        READY_ROOT_AS_IS,
        BootFailed,
        finish_running,
        place_and_boot,
        place_and_boot_merged,
    )
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.START_VM.name)
class StartVmWorkflow:
    def __init__(self) -> None:
        self.root_as_is = False
        self.steps = Steps(
            "validate",
            "plan and claim",
            "prepare root volume",
            "define and start",
            "running",
        )

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DeployVmInput) -> VmResult:
        # Decided before the first step.
        merged = workflow.patched(PLACE_IN_ONE_STEP)
        self.root_as_is = workflow.patched(READY_ROOT_AS_IS)
        ops = VmOps.for_boot(inp)
        return await ops.guard(self._run(inp, ops, merged=merged))

    async def _run(self, inp: DeployVmInput, ops: VmOps, *, merged: bool) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Starting")
        try:
            if merged:  # NICs allocated by the placing step
                placement, attempts = await place_and_boot_merged(
                    ops,
                    ctx,
                    self.steps,
                    max_hosts=inp.max_hosts,
                    prefer_host=ctx.last_host_id,
                    root_as_is=self.root_as_is,
                )
            else:
                placement, attempts = await self._place_and_boot(ctx, inp, ops)
        except BootFailed as failed:
            reason = "; ".join(failed.attempts)
            # Back where it was, with why.
            await ops.finish("Stopped", error=reason, error_type=failed.kind)
            raise ApplicationError(
                f"VM {ctx.name} could not be started: {reason}",
                type=failed.kind,
                non_retryable=True,
            ) from None
        return await finish_running(ops, self.steps, placement, attempts)

    async def _place_and_boot(
        self, ctx: VmContext, inp: DeployVmInput, ops: VmOps
    ) -> tuple[Placement, list[str]]:
        """The shape of runs started before the patch: NICs first, then four steps."""
        try:
            # A VM recovered from Error has no NIC left; its address may not be available.
            nics = await ops.nics()
        except FailureError as err:
            raise await ops.abandon(
                ctx, err, back_to="Stopped", doing="start", done="started", kind=error_type(err)
            ) from err
        return await place_and_boot(
            ops, ctx, nics, self.steps, max_hosts=inp.max_hosts, prefer_host=ctx.last_host_id
        )
