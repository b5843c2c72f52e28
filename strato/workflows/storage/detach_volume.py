"""DetachVolume: a data volume leaves its VM (unplugged from the running guest, which
must let it go) and stays Ready, with its data, for another attach."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DetachDiskInput
    from strato.domain.compute.steps import DETACH_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import DetachVolumeInput, VolumeResult, device_name
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.DETACH_VOLUME.name)
class DetachVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "detach on host", "detached")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DetachVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops), inp.vm_id)

    async def _run(self, inp: DetachVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        vol, vm = await ops.begin_with_vm(inp.vm_id)
        if vol.device_id is not None and vm.state == "Running" and vm.host_name is not None:
            device = device_name(vol.device_id)
            self.steps.enter("detach on host", f"{device} on {vm.host_name}")
            try:
                await ops.on_host(
                    DETACH_DISK,
                    vm.host_name,
                    DetachDiskInput(name=vm.hypervisor_name, device=device),
                )
            except FailureError as err:
                raise await ops.fail(
                    err, back_to=vol.state, doing=f"detach from {vm.name}", kind=error_type(err)
                ) from err
        self.steps.enter("detached")
        ctx = await ops.finish(vol.state, detach=True)
        self.steps.finish(f"from {vm.name}")
        return result(ctx)
