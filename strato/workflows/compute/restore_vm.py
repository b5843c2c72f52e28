"""RestoreBackupVm: a new VM from a VM backup (CloudStack's createVMFromBackup).

The command wrote the VM (Allocated, under this operation's lock) and one volume per
volume of the backup, each claimed on a pool of the zone and naming the backup it comes
from (a DeleteBackup waits for the copies). Here each backup copy is made on its pool (a
standalone qcow2, not a clone of the template), the volumes go Ready in one step, and
the VM is Stopped, or booted as a start boots it. A failed copy undoes the restore: the
copies are deleted, the claims released, the data volumes Expunged and the VM Error,
saying why. A boot that fails leaves the restored VM Stopped, its disks kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import RestoredInput, RestoreVmInput, VmContext, VmResult
    from strato.domain.compute.steps import VM_RESTORED
    from strato.domain.progress import StepProgress
    from strato.domain.storage.steps import CACHE_TEMPLATE
    from strato.domain.storage.templates import PoolCacheInput
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.boot import BootFailed, finish_running, place_and_boot_merged
    from strato.workflows.compute.vm_steps import VmOps

COPY_TIMEOUT = timedelta(hours=4)


@workflow.defn(name=flows.RESTORE_BACKUP_VM.name)
class RestoreBackupVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps(
            "validate",
            "copy volumes",
            "volumes ready",
            "plan and claim",
            "prepare root volume",
            "define and start",
            "running",
        )

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: RestoreVmInput) -> VmResult:
        ops = VmOps.for_boot(inp)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: RestoreVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Starting")
        paths: dict[str, str] = {}
        for i, disk in enumerate(inp.disks):
            self.steps.enter("copy volumes", f"{i + 1}/{len(inp.disks)}: to {disk.pool}")
            copy = PoolCacheInput(name=disk.name, source=disk.source, size_bytes=disk.size_bytes)
            try:
                info = await ops.on_pool(CACHE_TEMPLATE, disk.pool, copy, timeout=COPY_TIMEOUT)
            except FailureError as err:
                await self._undo(inp, ops, ctx, err)
            paths[str(disk.volume_id)] = info.path
        self.steps.enter("volumes ready")
        await ops.local(VM_RESTORED, RestoredInput(**ops.ref.model_dump(), paths=paths))
        if not inp.start:
            await ops.finish("Stopped")
            self.steps.finish(f"{len(paths)} volume(s) restored, stopped")
            return VmResult(vm_id=inp.vm_id, state="Stopped")
        ctx = await ops.begin("")  # read again: its root and data disks have their files
        try:
            placement, attempts = await place_and_boot_merged(
                ops, ctx, self.steps, max_hosts=inp.max_hosts, root_as_is=True
            )
        except BootFailed as failed:
            reason = "; ".join(failed.attempts)
            await ops.finish("Stopped", error=reason, error_type=failed.kind)
            raise ApplicationError(
                f"VM {ctx.name} was restored but could not be started: {reason}",
                type=failed.kind,
                non_retryable=True,
            ) from None
        return await finish_running(ops, self.steps, placement, attempts)

    async def _undo(
        self, inp: RestoreVmInput, ops: VmOps, ctx: VmContext, err: FailureError
    ) -> NoReturn:
        self.steps.enter("copy volumes", "undoing the restore")
        for disk in inp.disks:  # deleting a copy never made is a no-op
            await ops.best_effort_delete_volume(disk.pool, disk.name)
        await ops.local(VM_RESTORED, RestoredInput(**ops.ref.model_dump()))
        raise await ops.abandon(
            ctx, err, back_to="Error", doing="restore", done="restored", kind=error_type(err)
        ) from err
