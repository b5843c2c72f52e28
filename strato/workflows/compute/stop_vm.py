"""StopVm: graceful shutdown with a timeout, then forced; the domain is undefined and
(by default) the host capacity released, like CloudStack's capacity release on stop."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import StopVmInput, VmResult
    from strato.domain.compute.steps import VM_RELEASE_HOST
    from strato.domain.progress import StepProgress
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.STOP_VM.name)
class StopVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "stop on host", "release capacity", "stopped")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: StopVmInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: StopVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Stopping")
        self.steps.enter("stop on host", ctx.host_name or "")
        try:
            await ops.stop_on_host(ctx, force=inp.force, timeout_s=inp.timeout_s)
        except FailureError as err:
            raise await ops.abandon(
                ctx, err, back_to="Running", doing="stop", done="stopped", kind="stop-failed"
            ) from err
        self.steps.enter("release capacity")
        if inp.release_capacity:
            await ops.local(VM_RELEASE_HOST, ops.ref)
        await ops.finish("Stopped", clear_host=inp.release_capacity)
        self.steps.finish()
        return VmResult(vm_id=inp.vm_id, state="Stopped")
