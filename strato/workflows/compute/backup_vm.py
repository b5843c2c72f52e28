"""CreateBackup: under the VM's lock, each volume is snapshotted (by its pool while the VM
is stopped; by the host's QEMU while it runs), the snapshot exported to the zone's image
store (a standalone qcow2: the copy is consistent per disk) and deleted; the backup goes
BackingUp -> BackedUp, or Error with the reason. Then the VM's oldest backups beyond its
offering's retention are removed."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DiskSnapshotInput, DisksSnapshotInput, VmResult
    from strato.domain.compute.steps import DELETE_DISK_SNAPSHOT, SNAPSHOT_DISK, SNAPSHOT_DISKS
    from strato.domain.progress import StepProgress
    from strato.domain.steps import Step
    from strato.domain.storage import flows
    from strato.domain.storage.backups import (
        BackupCheckInput,
        BackupDiscardInput,
        BackupDoneInput,
        BackupImage,
        BackupResult,
        BackupVolume,
        CreateBackupInput,
        backup_key,
    )
    from strato.domain.storage.payloads import PoolSnapshotInput, device_name
    from strato.domain.storage.steps import (
        BACKUP_DISCARD,
        BACKUP_FAILED,
        BACKUP_FINISHED,
        BACKUP_VERIFY,
        CREATE_SNAPSHOT,
        DELETE_SNAPSHOT,
        EXPORT_SNAPSHOT,
    )
    from strato.domain.storage.templates import PoolExportInput
    from strato.workflows.common import calls
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.policies import BEST_EFFORT_RETRY, HOST_RETRY, SCHEDULE_TO_START
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps
    from strato.workflows.storage.backups import remove

I = TypeVar("I")  # noqa: E741 - a step's input type
R = TypeVar("R")

COPY_TIMEOUT = timedelta(hours=4)
# Runs started with it have the backup provider check the images before BackedUp, and
# delete a failed backup's images.
BACKUP_VERIFIED = "backup-verified"
# Runs started with it snapshot a running VM's disks at one instant (a QMP transaction).
BACKUP_DISKS_TOGETHER = "backup-disks-at-one-instant"


@workflow.defn(name=flows.CREATE_BACKUP.name)
class CreateBackupWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "copy volumes", "verify", "backed up", "retention")
        self.verified = False
        self.together = False

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: CreateBackupInput) -> BackupResult:
        self.verified = workflow.patched(BACKUP_VERIFIED)  # before the first step
        self.together = workflow.patched(BACKUP_DISKS_TOGETHER)
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
        together = self.together and inp.live_host is not None
        if together:
            self.steps.enter("copy volumes", "every disk's snapshot, at one instant")
            try:
                await self._snapshot_together(inp, ops)
            except FailureError as err:
                why = "the snapshot of the VM's disks failed"
                raise await self._failed(inp, ops, state, why, err) from None
        done: list[BackupVolume] = []
        for i, vol in enumerate(inp.volumes):
            self.steps.enter("copy volumes", f"{i + 1}/{len(inp.volumes)}: {vol.name}")
            try:
                done.append(await self._copy(inp, ops, vol, taken=together))
            except FailureError as err:
                if together:  # the disks not reached still hold their snapshot
                    await self._drop_live(inp, ops, inp.volumes[i + 1 :])
                why = f"backup of volume {vol.volume_id} failed"
                raise await self._failed(inp, ops, state, why, err) from None
        if self.verified:
            self.steps.enter("verify", f"{len(done)} image(s), by the backup provider")
            try:
                done = await self._verify(inp, done)
            except FailureError as err:
                why = "the backup failed its provider's check"
                raise await self._failed(inp, ops, state, why, err) from None
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

    async def _failed(
        self, inp: CreateBackupInput, ops: VmOps, state: str, why: str, err: FailureError
    ) -> ApplicationError:
        """The VM let go (its images deleted first, as far as they can be); the error.
        Its message carries the cause's (which would replace it as the ``__cause__``)."""
        if self.verified:
            ids = [v.volume_id for v in inp.volumes]
            discard = BackupDiscardInput(store=inp.store, backup_id=inp.backup_id, volume_ids=ids)
            with contextlib.suppress(FailureError):
                await self._template_service(BACKUP_DISCARD, discard, inp, BEST_EFFORT_RETRY)
        await ops.finish(state)
        return ApplicationError(
            f"{why}: {failure_reason(err)}",
            type=error_type(err),
            non_retryable=True,
        )

    async def _verify(self, inp: CreateBackupInput, done: list[BackupVolume]) -> list[BackupVolume]:
        """Each image checked by the backup provider; the volumes with what it holds."""
        images = [BackupImage(volume_id=v.volume_id, size_bytes=v.size_bytes) for v in done]
        check = BackupCheckInput(store=inp.store, backup_id=inp.backup_id, images=images)
        held = await self._template_service(BACKUP_VERIFY, check, inp, HOST_RETRY)
        by_id = {i.volume_id: i for i in held}
        return [
            v.model_copy(
                update={
                    "path": by_id[v.volume_id].path,
                    "stored_bytes": by_id[v.volume_id].stored_bytes,
                }
            )
            for v in done
        ]

    async def _template_service(
        self, step: Step[I, R], arg: I, inp: CreateBackupInput, retry: RetryPolicy
    ) -> R:
        return await calls.remote(
            step,
            arg,
            queue=inp.queue,
            timeout=timedelta(minutes=10),
            retry=retry,
            reach=SCHEDULE_TO_START,
        )

    async def _snapshot_together(self, inp: CreateBackupInput, ops: VmOps) -> None:
        """A running VM's disks snapshotted by its QEMU at one instant (one transaction):
        the backup is consistent across them, as after a power cut."""
        assert inp.live_host is not None and inp.hypervisor_name is not None
        devices = [device_name(v.device_id) for v in inp.volumes if v.device_id is not None]
        arg = DisksSnapshotInput(
            name=inp.hypervisor_name, devices=devices, snapshot=f"strato-backup-{inp.backup_id}"
        )
        await ops.on_host(SNAPSHOT_DISKS, inp.live_host, arg)

    async def _drop_live(
        self, inp: CreateBackupInput, ops: VmOps, volumes: list[BackupVolume]
    ) -> None:
        """The snapshots of disks that were not copied, deleted as far as they can be."""
        for vol in volumes:
            if inp.live_host and inp.hypervisor_name and vol.device_id is not None:
                live = DiskSnapshotInput(
                    name=inp.hypervisor_name,
                    device=device_name(vol.device_id),
                    snapshot=f"strato-backup-{inp.backup_id}",
                )
                with contextlib.suppress(FailureError):
                    await ops.on_host(
                        DELETE_DISK_SNAPSHOT, inp.live_host, live, retry=BEST_EFFORT_RETRY
                    )

    async def _copy(
        self, inp: CreateBackupInput, ops: VmOps, vol: BackupVolume, *, taken: bool = False
    ) -> BackupVolume:
        """Snapshot (unless ``taken`` with the others), export, and delete the snapshot
        (whatever happened to the export). A running VM's QEMU holds its disks: it takes
        and deletes their snapshots."""
        snap = PoolSnapshotInput(volume=vol.name, snapshot=f"strato-backup-{inp.backup_id}")
        live = None
        if inp.live_host and inp.hypervisor_name and vol.device_id is not None:
            live = DiskSnapshotInput(
                name=inp.hypervisor_name, device=device_name(vol.device_id), snapshot=snap.snapshot
            )
            if not taken:
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
