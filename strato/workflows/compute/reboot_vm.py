"""RebootVm: restart the guest on its host; the VM stays Running."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import ComputeVmInput, VmRef, VmResult
    from strato.domain.compute.steps import REBOOT_VM
    from strato.domain.progress import StepProgress
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.REBOOT_VM.name)
class RebootVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "reboot on host")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VmRef) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: VmRef, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Running")
        assert ctx.host_name is not None
        self.steps.enter("reboot on host", ctx.host_name)
        try:
            await ops.on_host(REBOOT_VM, ctx.host_name, ComputeVmInput(name=ctx.hypervisor_name))
        except FailureError as err:
            raise await ops.abandon(
                ctx, err, back_to="Running", doing="reboot", done="rebooted", kind="reboot-failed"
            ) from err
        await ops.finish("Running", event="strato.vm.rebooted")
        self.steps.finish()
        return VmResult(
            vm_id=inp.vm_id, state="Running", host_id=ctx.host_id, host_name=ctx.host_name
        )
