"""VM backups, each one workflow run (CreateBackup, under the VM's lock, is compute's:
``strato/workflows/compute/backup_vm.py``):

- DeleteBackup: its copies deleted by the template service, then Removed.
- RestoreBackupVolume: a new volume made on a pool from one volume of a backup.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.backups import (
        BackupDoneInput,
        BackupFiles,
        BackupResult,
        DeleteBackupInput,
        RestoreVolumeInput,
    )
    from strato.domain.storage.payloads import StoreKey, VolumeResult
    from strato.domain.storage.steps import (
        BACKUP_FAILED,
        BACKUP_REMOVED,
        CACHE_TEMPLATE,
        DELETE_STORED,
    )
    from strato.domain.storage.templates import PoolCacheInput
    from strato.workflows.common import calls
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.policies import (
        HOST_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        SCHEDULE_TO_START,
    )
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result

COPY_TIMEOUT = timedelta(hours=4)


async def remove(files: BackupFiles, operation_id: object, queue: str) -> str | None:
    """Delete the backup's copies, then record it Removed. If the template service cannot
    delete them, the backup goes Error saying why (and its lock goes: a delete may be
    asked again); the reason is returned."""
    try:
        for key in files.keys:
            await calls.remote(
                DELETE_STORED,
                StoreKey(store=files.store, key=key),
                queue=queue,
                timeout=timedelta(minutes=10),
                retry=HOST_RETRY,
                reach=SCHEDULE_TO_START,
            )
    except FailureError as err:
        reason = f"its copies could not be deleted: {failure_reason(err)}"
        failed = BackupDoneInput(backup_id=files.backup_id, operation_id=operation_id, error=reason)
        await calls.local(BACKUP_FAILED, failed, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)
        return reason
    done = BackupDoneInput(backup_id=files.backup_id, operation_id=operation_id)
    await calls.local(BACKUP_REMOVED, done, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)
    return None


@workflow.defn(name=flows.DELETE_BACKUP.name)
class DeleteBackupWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("delete copies")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DeleteBackupInput) -> BackupResult:
        self.steps.enter("delete copies", f"{len(inp.files.keys)} in {inp.files.store.name}")
        failed = await remove(inp.files, inp.operation_id, inp.queue)
        if failed is not None:
            raise ApplicationError(failed, type="backup-delete-failed", non_retryable=True)
        self.steps.finish()
        return BackupResult(backup_id=inp.files.backup_id, state="Removed")


@workflow.defn(name=flows.RESTORE_BACKUP_VOLUME.name)
class RestoreBackupVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("copy to pool", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: RestoreVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: RestoreVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("copy to pool", inp.pool)
        await ops.begin()
        copy = PoolCacheInput(name=inp.name, source=inp.source, size_bytes=inp.size_bytes)
        try:
            info = await ops.on_pool(CACHE_TEMPLATE, inp.pool, copy, timeout=COPY_TIMEOUT)
        except FailureError as err:
            raise await ops.fail(
                err, back_to="Error", doing="restore", kind=error_type(err), release_pool=True
            ) from err
        self.steps.enter("ready")
        done = await ops.finish("Ready", path=info.path)
        self.steps.finish(inp.name)
        return result(done)
