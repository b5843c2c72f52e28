"""DeployVm: validate -> allocate NIC/IP -> plan + claim -> root volume -> define -> start."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import DeployVmInput, VmResult
    from strato.domain.compute.steps import VM_RELEASE_NICS
    from strato.domain.network.payloads import NicInfo
    from strato.domain.progress import StepProgress
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.boot import (
        PLACE_IN_ONE_STEP,
        BootFailed,
        finish_running,
        place_and_boot,
        place_and_boot_merged,
    )
    from strato.workflows.compute.vm_steps import VmOps

STEPS = (
    "validate",
    "allocate network",
    "plan and claim",
    "prepare root volume",
    "define and start",
    "running",
)


@workflow.defn(name=flows.DEPLOY_VM.name)
class DeployVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps(*STEPS)

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DeployVmInput) -> VmResult:
        # Patches are decided before the first step: a patch marker recorded after a local
        # step in the same workflow task was not seen when a query replayed the run.
        merged = inp.start and workflow.patched(PLACE_IN_ONE_STEP)
        ops = VmOps.for_boot(inp)
        return await ops.guard(self._run(inp, ops, merged=merged))

    async def _run(self, inp: DeployVmInput, ops: VmOps, *, merged: bool) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Starting")
        # Runs since the patch place the VM in one step (NICs included) when it boots.
        nics: list[NicInfo] = []
        if not merged:
            self.steps.enter("allocate network")
            try:
                nics = await ops.nics()
            except FailureError as err:
                await ops.finish("Error", error=failure_reason(err), error_type=error_type(err))
                raise ApplicationError(
                    failure_reason(err), type=error_type(err), non_retryable=True
                ) from err
        if not inp.start:
            await ops.finish("Stopped")
            self.steps.finish("created stopped")
            return VmResult(vm_id=inp.vm_id, state="Stopped")
        try:
            if merged:
                placement, attempts = await place_and_boot_merged(
                    ops, ctx, self.steps, max_hosts=inp.max_hosts
                )
            else:
                placement, attempts = await place_and_boot(
                    ops, ctx, nics, self.steps, max_hosts=inp.max_hosts
                )
        except BootFailed as failed:
            # Compensation: claims and volumes of each attempt were undone; now the IPs
            # (and the leases and rules routers hold for them).
            await ops.unplug_nics(ctx, expunging=True)
            await ops.local(VM_RELEASE_NICS, ops.ref)
            reason = "; ".join(failed.attempts)
            await ops.finish("Error", error=reason, error_type=failed.kind)
            raise ApplicationError(
                f"VM {ctx.name} could not be deployed: {reason}",
                type=failed.kind,
                non_retryable=True,
            ) from None
        return await finish_running(ops, self.steps, placement, attempts)
