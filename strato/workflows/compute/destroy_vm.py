"""DestroyVm: stop (forced), free the host, mark Destroyed; then either expunge at once,
in this same run and under the same lock (``expunge``), or after the configured delay
through ExpungeVm's durable timer (cancelled by RecoverVm)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import DestroyVmInput, ExpungeVmInput, VmResult
    from strato.domain.compute.steps import VM_RELEASE_HOST
    from strato.domain.ids import workflow_id
    from strato.domain.progress import StepProgress
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.expunge_vm import VM_SNAPSHOTS_OFF_DATA, expunge_in_destroy
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.DESTROY_VM.name)
class DestroyVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps(
            "validate",
            "stop on host",
            "release capacity",
            "destroyed",
            "expunge",
            "remove from host",
            "delete volumes",
            "release addresses",
        )

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DestroyVmInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: DestroyVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        inline = inp.expunge and workflow.patched("destroy-expunges-in-its-run")
        if inline:
            ops.snapshots_off_data = workflow.patched(VM_SNAPSHOTS_OFF_DATA)
        if inline:  # one step: locked, and Stopping if it runs
            ctx = await ops.begin("Stopping", only_from=("Running",))
            running = ctx.state == "Stopping"
        else:
            ctx = await ops.begin("")
            running = ctx.state == "Running"
            if running:
                ctx = await ops.begin("Stopping")
        undefined_on = ctx.host_name if running else None
        if running:
            self.steps.enter("stop on host", ctx.host_name or "")
            try:
                await ops.stop_on_host(ctx, force=True, timeout_s=5)
            except FailureError as err:
                raise await ops.abandon(
                    ctx,
                    err,
                    back_to="Running",
                    doing="destroy",
                    done="destroyed",
                    kind="destroy-failed",
                ) from err
        if inline:
            # One run, one lock: Destroyed, then expunged, with no child workflow between.
            self.steps.enter("expunge", "now")
            return await expunge_in_destroy(ops, self.steps, undefined_on=undefined_on)
        self.steps.enter("release capacity")
        await ops.local(VM_RELEASE_HOST, ops.ref)
        self.steps.enter("destroyed")
        delay = 0.0 if inp.expunge else inp.expunge_delay_s
        await ops.finish("Destroyed", clear_host=True, destroyed=True, expunge_delay_s=delay)
        self.steps.enter("expunge", "now" if inp.expunge else f"in {delay:g}s unless recovered")
        child = await workflow.start_child_workflow(
            flows.EXPUNGE_VM.name,
            ExpungeVmInput(vm_id=inp.vm_id, delay_s=delay),
            id=workflow_id("vm", "expunge", inp.vm_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            task_queue=workflow.info().task_queue,
        )
        if inp.expunge:
            await child
            self.steps.finish("expunged")
            return VmResult(vm_id=inp.vm_id, state="Expunged")
        self.steps.finish(f"expunge scheduled in {delay:g}s")
        return VmResult(vm_id=inp.vm_id, state="Destroyed")
