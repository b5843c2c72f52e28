"""DeleteSnapshot: a snapshot is removed from its volume's pool (Destroying ->
Destroyed); the volume's content is untouched. A failure leaves the snapshot Error with
the pool's reason (deleting it again retries)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DiskSnapshotInput
    from strato.domain.compute.steps import DELETE_DISK_SNAPSHOT
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import PoolSnapshotInput, SnapshotOpInput, SnapshotResult
    from strato.domain.storage.steps import DELETE_SNAPSHOT
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.snapshot_ops import SnapshotOps


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
        self.steps.enter("deleted")
        await ops.finish(inp.volume_state, snapshot_id=inp.snapshot_id, snapshot_target="Destroyed")
        self.steps.finish(inp.snapshot_name)
        return ops.result("Destroyed")
