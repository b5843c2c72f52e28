"""RevertSnapshot: a volume (detached, or its VM stopped) goes back to one of its
snapshots; the snapshot stays. Volume RevertSnapshotting meanwhile; on failure it is
Ready again with the pool's reason."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import PoolSnapshotInput, SnapshotOpInput, SnapshotResult
    from strato.domain.storage.steps import REVERT_SNAPSHOT
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.snapshot_ops import SnapshotOps


@workflow.defn(name=flows.REVERT_SNAPSHOT.name)
class RevertSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "revert on pool", "reverted")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SnapshotOpInput) -> SnapshotResult:
        ops = SnapshotOps(inp)
        return await ops.guard_snapshot(self._run(inp, ops))

    async def _run(self, inp: SnapshotOpInput, ops: SnapshotOps) -> SnapshotResult:
        # The command locked the volume and moved it to RevertSnapshotting.
        self.steps.enter("validate")
        if inp.vm_id is not None:
            await ops.vm_begin(inp.vm_id)
        assert inp.pool_name is not None
        self.steps.enter("revert on pool", inp.pool_name)
        try:
            await ops.on_pool(
                REVERT_SNAPSHOT,
                inp.pool_name,
                PoolSnapshotInput(volume=inp.volume_name, snapshot=inp.storage_name),
            )
        except FailureError as err:
            raise await ops.fail(
                err, back_to="Ready", doing="revert", kind=error_type(err)
            ) from err
        self.steps.enter("reverted")
        # qcow2 gives the volume the size it had when the snapshot was taken.
        size = inp.snapshot_size_bytes or inp.size_bytes
        await ops.finish("Ready", reverted_to=inp.snapshot_id, size_bytes=size, claim_bytes=size)
        self.steps.finish(f"{inp.volume_name} is {inp.snapshot_name} again")
        return ops.result("reverted")
