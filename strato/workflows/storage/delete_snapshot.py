"""DeleteSnapshot: a snapshot is removed from its volume's pool, and from secondary
storage if it was backed up (Destroying -> Destroyed); the volume's content is
untouched. A failure leaves the snapshot Error with the reason (deleting it again
retries)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DiskSnapshotInput
    from strato.domain.compute.steps import DELETE_DISK_SNAPSHOT
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import PoolSnapshotInput, SnapshotOpInput, SnapshotResult
    from strato.domain.storage.steps import DELETE_SNAPSHOT, DELETE_STORED
    from strato.workflows.common import calls
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.policies import HOST_RETRY, SCHEDULE_TO_START
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.snapshot_ops import SnapshotOps


# A snapshot backed up to secondary storage: its backup is deleted there too.
DELETE_BACKUP = "delete-snapshot-backup"


@workflow.defn(name=flows.DELETE_SNAPSHOT.name)
class DeleteSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "delete on pool", "deleted")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SnapshotOpInput) -> SnapshotResult:
        ops = SnapshotOps(inp)
        return await ops.guard_snapshot(self._run(inp, ops))

    async def _run(self, inp: SnapshotOpInput, ops: SnapshotOps) -> SnapshotResult:
        # The command locked the volume and moved the snapshot to Destroying.
        self.steps.enter("validate")
        vm = await ops.vm_begin(inp.vm_id) if inp.vm_id is not None else None
        live = vm is not None and vm.state == "Running" and vm.host_name and inp.device
        if inp.pool_name is not None and inp.has_file:
            self.steps.enter("delete on pool", inp.pool_name)
            try:
                if live:
                    assert vm is not None and vm.host_name and inp.device
                    await ops.on_host(
                        DELETE_DISK_SNAPSHOT,
                        vm.host_name,
                        DiskSnapshotInput(
                            name=vm.hypervisor_name, device=inp.device, snapshot=inp.storage_name
                        ),
                    )
                else:
                    await ops.on_pool(
                        DELETE_SNAPSHOT,
                        inp.pool_name,
                        PoolSnapshotInput(volume=inp.volume_name, snapshot=inp.storage_name),
                    )
            except FailureError as err:
                raise await ops.fail(
                    err,
                    back_to=inp.volume_state,
                    doing="delete snapshot",
                    kind=error_type(err),
                    snapshot_id=inp.snapshot_id,
                    snapshot_target="Error",
                ) from err
        if inp.backup is not None and workflow.patched(DELETE_BACKUP):
            self.steps.enter("delete on pool", f"and its backup in {inp.backup.store.name}")
            try:
                await calls.remote(
                    DELETE_STORED,
                    inp.backup,
                    queue=inp.templates_queue,
                    timeout=timedelta(minutes=10),
                    retry=HOST_RETRY,
                    reach=SCHEDULE_TO_START,
                )
            except FailureError as err:
                raise await ops.fail(
                    err,
                    back_to=inp.volume_state,
                    doing="delete snapshot backup",
                    kind=error_type(err),
                    snapshot_id=inp.snapshot_id,
                    snapshot_target="Error",
                ) from err
        self.steps.enter("deleted")
        await ops.finish(inp.volume_state, snapshot_id=inp.snapshot_id, snapshot_target="Destroyed")
        self.steps.finish(inp.snapshot_name)
        return ops.result("Destroyed")
