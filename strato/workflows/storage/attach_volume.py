"""AttachVolume: a data volume joins a VM at a stable device (vdb, vdc, ...).

A volume still Allocated is created first, on a pool the VM reaches (its root's pool
when it has room), like CloudStack's lazy allocation. A running VM gets the disk
hot-plugged; a stopped one keeps no domain, so its next boot defines the disk with it.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import AttachDiskInput, DetachDiskInput, VmContext
    from strato.domain.compute.specs import DiskSpec
    from strato.domain.compute.steps import ATTACH_DISK, DETACH_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import (
        AttachVolumeInput,
        VolumeClaimInput,
        VolumeContext,
        VolumeReadyInput,
        VolumeResult,
        device_name,
    )
    from strato.domain.storage.specs import VolumeSpec
    from strato.domain.storage.steps import (
        CREATE_VOLUME,
        DELETE_VOLUME,
        VOLUME_CLAIM_POOL,
        VOLUME_READY,
    )
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.ATTACH_VOLUME.name)
class AttachVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "create on pool", "attach on host", "attached")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: AttachVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops), inp.vm_id)

    async def _run(self, inp: AttachVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        vol, vm = await ops.begin_with_vm(inp.vm_id)
        running = vm.state == "Running" and vm.host_name is not None
        path = vol.path
        if vol.state == "Allocated" or path is None:
            self.steps.enter("create on pool")
            path = await self._create(ops, vol, vm.host_name if running else None, vm)
        device = device_name(inp.device_id)
        if running:
            assert vm.host_name is not None
            self.steps.enter("attach on host", f"{device} on {vm.host_name}")
            disk = DiskSpec(path=path, device=device, format=vol.format)
            try:
                await ops.on_host(
                    ATTACH_DISK, vm.host_name, AttachDiskInput(name=vm.hypervisor_name, disk=disk)
                )
            except FailureError as err:
                # A step that timed out may have plugged the disk all the same: unplug it
                # (best effort) before recording the volume as detached.
                try:
                    await ops.on_host(
                        DETACH_DISK,
                        vm.host_name,
                        DetachDiskInput(name=vm.hypervisor_name, device=device),
                    )
                except FailureError:
                    workflow.logger.warning("could not unplug %s from %s", device, vm.name)
                raise await ops.fail(
                    err, back_to="Ready", doing=f"attach to {vm.name}", kind=error_type(err)
                ) from err
        self.steps.enter("attached")
        ctx = await ops.finish("Ready", vm_id=inp.vm_id, device_id=inp.device_id)
        self.steps.finish(f"{device} of {vm.name}" + ("" if running else " at its next start"))
        return result(ctx)

    async def _create(
        self, ops: VolumeOps, vol: VolumeContext, host: str | None, vm: VmContext
    ) -> str:
        """The volume's file, on a pool the VM reaches; undone (claim released, back to
        Allocated) if it cannot be made."""
        claim_in = VolumeClaimInput(
            **ops.ref.model_dump(), host_name=host, near_pool_name=vm.root_pool_name
        )
        try:
            claim = await ops.local(VOLUME_CLAIM_POOL, claim_in)
        except FailureError as err:
            raise await ops.fail(
                err, back_to="Allocated", doing="create", kind=error_type(err)
            ) from err
        self.steps.enter("create on pool", claim.pool_name)
        try:
            spec = VolumeSpec(name=vol.name, size_bytes=vol.size_bytes, format=vol.format)
            info = await ops.on_pool(CREATE_VOLUME, claim.pool_name, spec)
        except FailureError as err:
            try:
                await ops.on_pool(DELETE_VOLUME, claim.pool_name, vol.name)
            except FailureError:
                workflow.logger.warning("could not delete half-made %s", vol.name)
            raise await ops.fail(
                err, back_to="Allocated", doing="create", kind=error_type(err), release_pool=True
            ) from err
        await ops.local(VOLUME_READY, VolumeReadyInput(volume_id=vol.volume_id, path=info.path))
        return info.path
