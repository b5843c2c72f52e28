"""A snapshot exported by its volume's pool to the zone's image store, as a standalone
qcow2 (``qemu-img convert`` of the snapshot, shared with a guest that may be running):

- BackupSnapshot: the snapshot's backup (CreatedOnPrimary -> BackingUp -> BackedUp; back
  to CreatedOnPrimary with the reason if the copy fails). It outlives the volume's file.
- CreateTemplateFromSnapshot: a new template (Downloading -> Ready, or Error).

Both hold the volume's lock (no other snapshot operation changes its file meanwhile) but
not its VM's: a running guest keeps running, and the snapshot's clusters are never
written while it exists. The export is written under a hidden name and renamed, so a
half-made copy (a pool agent killed mid-copy: the step is retried) is never published.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import SnapshotBackup, SnapshotResult
    from strato.domain.storage.steps import (
        EXPORT_SNAPSHOT,
        TEMPLATE_FAILED,
        TEMPLATE_STORED,
    )
    from strato.domain.storage.templates import (
        ImageResult,
        PoolExportInput,
        SnapshotExportInput,
        TemplateFailedInput,
        TemplateStoredInput,
    )
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.snapshot_ops import SnapshotOps

EXPORT_TIMEOUT = timedelta(hours=4)


async def _export(ops: SnapshotOps, inp: SnapshotExportInput) -> ImageResult:
    assert inp.pool_name is not None
    arg = PoolExportInput(
        volume=inp.volume_name, snapshot=inp.storage_name, store=inp.store, key=inp.key
    )
    return await ops.on_pool(EXPORT_SNAPSHOT, inp.pool_name, arg, timeout=EXPORT_TIMEOUT)


@workflow.defn(name=flows.BACKUP_SNAPSHOT.name)
class BackupSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("copy to secondary storage", "backed up")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SnapshotExportInput) -> SnapshotResult:
        ops = SnapshotOps(inp)
        return await ops.guard_snapshot(self._run(inp, ops))

    async def _run(self, inp: SnapshotExportInput, ops: SnapshotOps) -> SnapshotResult:
        # The command locked the volume and moved the snapshot to BackingUp.
        self.steps.enter("copy to secondary storage", inp.store.name)
        try:
            image = await _export(ops, inp)
        except FailureError as err:
            raise await ops.fail(
                err,
                back_to=inp.volume_state,
                doing="backup",
                kind=error_type(err),
                snapshot_id=inp.snapshot_id,
                snapshot_target="CreatedOnPrimary",
            ) from err
        self.steps.enter("backed up")
        backup = SnapshotBackup(
            store_id=inp.store.store_id, path=image.path, size_bytes=image.size_bytes
        )
        await ops.finish(
            inp.volume_state,
            snapshot_id=inp.snapshot_id,
            snapshot_target="BackedUp",
            snapshot_backup=backup,
        )
        self.steps.finish(f"{image.size_bytes} bytes in {inp.store.name}")
        return ops.result("BackedUp")


@workflow.defn(name=flows.TEMPLATE_FROM_SNAPSHOT.name)
class CreateTemplateFromSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("copy to secondary storage", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SnapshotExportInput) -> SnapshotResult:
        ops = SnapshotOps(inp)
        assert inp.template_id is not None
        try:
            return await ops.guard_snapshot(self._run(inp, ops))
        except FailureError as err:  # the template Error too, with the reason (idempotent)
            failed = TemplateFailedInput(
                template_id=inp.template_id,
                operation_id=inp.operation_id,
                error=f"export of snapshot {inp.snapshot_name} failed: {failure_reason(err)}",
            )
            await ops.local(TEMPLATE_FAILED, failed)
            raise

    async def _run(self, inp: SnapshotExportInput, ops: SnapshotOps) -> SnapshotResult:
        # The command locked the volume and made the template (Downloading, locked).
        assert inp.template_id is not None
        self.steps.enter("copy to secondary storage", inp.store.name)
        try:
            image = await _export(ops, inp)
        except FailureError as err:
            raise await ops.fail(
                err, back_to=inp.volume_state, doing="export", kind=error_type(err)
            ) from err
        self.steps.enter("ready")
        await ops.finish(inp.volume_state)
        await ops.local(
            TEMPLATE_STORED,
            TemplateStoredInput(
                template_id=inp.template_id,
                operation_id=inp.operation_id,
                store_id=inp.store.store_id,
                image=image,
            ),
        )
        self.steps.finish(f"template from {inp.snapshot_name}")
        return ops.result("CreatedOnPrimary")
