"""ResizeVolume: a volume gets a new size. Grown in place by the hypervisor while its VM
runs (the running guest holds the image), on its pool otherwise; shrinking only with
``shrink_ok``. The pool claim was resized by the command (refused there when the pool
has no room) and is given back if the resize fails."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import ResizeDiskInput
    from strato.domain.compute.steps import RESIZE_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import (
        PoolResizeInput,
        ResizeVolumeInput,
        VolumeContext,
        VolumeResult,
        device_name,
    )
    from strato.domain.storage.steps import RESIZE_VOLUME
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.RESIZE_VOLUME.name)
class ResizeVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "resize", "resized")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: ResizeVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops), inp.vm_id)

    async def _run(self, inp: ResizeVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        if inp.vm_id is not None:
            vol, _ = await ops.begin_with_vm(inp.vm_id)
        else:
            vol = await ops.begin()
        if vol.path is not None and vol.pool_name is not None:
            vol = await ops.begin("Resizing")
            try:
                await self._resize(inp, ops, vol)
            except FailureError as err:
                raise await ops.fail(
                    err,
                    back_to="Ready",
                    doing="resize",
                    kind=error_type(err),
                    claim_bytes=inp.old_size_bytes,
                ) from err
        self.steps.enter("resized")
        target = "Ready" if vol.path is not None else vol.state
        ctx = await ops.finish(target, size_bytes=inp.size_bytes)
        self.steps.finish(f"{inp.old_size_bytes} -> {inp.size_bytes} bytes")
        return result(ctx)

    async def _resize(self, inp: ResizeVolumeInput, ops: VolumeOps, vol: VolumeContext) -> None:
        vm = ops.vm
        if vm is not None and vm.state == "Running" and vm.host_name and vol.device_id is not None:
            device = device_name(vol.device_id)
            self.steps.enter("resize", f"{device} of running {vm.name} on {vm.host_name}")
            arg = ResizeDiskInput(name=vm.hypervisor_name, device=device, size_bytes=inp.size_bytes)
            await ops.on_host(RESIZE_DISK, vm.host_name, arg)
            return
        assert vol.pool_name is not None
        self.steps.enter("resize", f"on pool {vol.pool_name}")
        await ops.on_pool(
            RESIZE_VOLUME,
            vol.pool_name,
            PoolResizeInput(name=vol.name, size_bytes=inp.size_bytes, shrink_ok=inp.shrink_ok),
        )
