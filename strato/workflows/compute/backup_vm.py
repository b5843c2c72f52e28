"""CreateBackup: under the VM's lock, each volume is snapshotted (by its pool while the VM
is stopped; by the host's QEMU while it runs), the snapshot exported to the zone's image
store (a standalone qcow2: the copy is consistent per disk) and deleted; the backup goes
BackingUp -> BackedUp, or Error with the reason. Then the VM's oldest backups beyond its
offering's retention are removed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DiskSnapshotInput, VmResult
    from strato.domain.compute.steps import DELETE_DISK_SNAPSHOT, SNAPSHOT_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.backups import (
        BackupDoneInput,
        BackupResult,
        BackupVolume,
        CreateBackupInput,
        backup_key,
    )
    from strato.domain.storage.payloads import PoolSnapshotInput, device_name
    from strato.domain.storage.steps import (
        BACKUP_FAILED,
        BACKUP_FINISHED,
        CREATE_SNAPSHOT,
        DELETE_SNAPSHOT,
        EXPORT_SNAPSHOT,
    )
    from strato.domain.storage.templates import PoolExportInput
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.policies import BEST_EFFORT_RETRY
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps
    from strato.workflows.storage.backups import remove

COPY_TIMEOUT = timedelta(hours=4)


@workflow.defn(name=flows.CREATE_BACKUP.name)
class CreateBackupWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "copy volumes", "backed up", "retention")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: CreateBackupInput) -> BackupResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        try:
            await ops.guard(self._run(inp, ops))
            return BackupResult(backup_id=inp.backup_id, state="BackedUp")
        except FailureError as err:  # the backup Error too, saying why (idempotent)
            failed = BackupDoneInput(
                backup_id=inp.backup_id, operation_id=inp.operation_id, error=failure_reason(err)
            )
            await ops.local(BACKUP_FAILED, failed)
            raise

    async def _run(self, inp: CreateBackupInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        state = "Running" if inp.live_host else "Stopped"
        await ops.begin(state)
        done: list[BackupVolume] = []
        for i, vol in enumerate(inp.volumes):
            self.steps.enter("copy volumes", f"{i + 1}/{len(inp.volumes)}: {vol.name}")
            try:
                done.append(await self._copy(inp, ops, vol))
            except FailureError as err:
                await ops.finish(state)
                raise ApplicationError(
                    f"backup of volume {vol.volume_id} failed: {failure_reason(err)}",
                    type=error_type(err),
                    non_retryable=True,
                ) from None  # its message carries the cause's (which would replace it)
        self.steps.enter("backed up")
        finished = BackupDoneInput(
            backup_id=inp.backup_id, operation_id=inp.operation_id, volumes=done
        )
        pruned = await ops.local(BACKUP_FINISHED, finished)
        await ops.finish(state)
        self.steps.enter("retention", f"{len(pruned)} older backup(s) to remove")
        for files in pruned:
            await remove(files, inp.operation_id, inp.queue)
        self.steps.finish(f"{len(done)} volume(s)")
        return VmResult(vm_id=inp.vm_id, state=state)

    async def _copy(self, inp: CreateBackupInput, ops: VmOps, vol: BackupVolume) -> BackupVolume:
        """Snapshot, export, and delete the snapshot (whatever happened to the export).
        A running VM's QEMU holds its disks: it takes and deletes their snapshots."""
        snap = PoolSnapshotInput(volume=vol.name, snapshot=f"strato-backup-{inp.backup_id}")
        live = None
        if inp.live_host and inp.hypervisor_name and vol.device_id is not None:
            live = DiskSnapshotInput(
                name=inp.hypervisor_name, device=device_name(vol.device_id), snapshot=snap.snapshot
            )
            await ops.on_host(SNAPSHOT_DISK, inp.live_host, live)
        else:
            await ops.on_pool(CREATE_SNAPSHOT, vol.pool, snap)
        try:
            export = PoolExportInput(
                volume=vol.name,
                snapshot=snap.snapshot,
                store=inp.store,
                key=backup_key(inp.backup_id, vol.volume_id),
            )
            image = await ops.on_pool(EXPORT_SNAPSHOT, vol.pool, export, timeout=COPY_TIMEOUT)
        finally:
            if live is not None and inp.live_host:
                await ops.on_host(
                    DELETE_DISK_SNAPSHOT, inp.live_host, live, retry=BEST_EFFORT_RETRY
                )
            else:
                await ops.on_pool(DELETE_SNAPSHOT, vol.pool, snap, retry=BEST_EFFORT_RETRY)
        return vol.model_copy(update={"path": image.path, "stored_bytes": image.size_bytes})
