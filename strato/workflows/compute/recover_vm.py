"""RecoverVm: a Destroyed VM returns to Stopped and its pending expunge is cancelled."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import VmRef, VmResult
    from strato.domain.ids import workflow_id
    from strato.domain.progress import StepProgress
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.RECOVER_VM.name)
class RecoverVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "cancel expunge", "stopped")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VmRef) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: VmRef, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        await ops.begin("")
        self.steps.enter("cancel expunge")
        # Holding the VM's lock already keeps the timer from expunging; cancelling it
        # just ends the waiting execution so the Temporal UI shows why.
        handle = workflow.get_external_workflow_handle(workflow_id("vm", "expunge", inp.vm_id))
        try:
            await handle.cancel()
        except Exception:  # no such run: nothing was pending
            workflow.logger.info("no pending expunge for %s", inp.vm_id)
        await ops.finish("Stopped")
        self.steps.finish()
        return VmResult(vm_id=inp.vm_id, state="Stopped")
