"""CreateSnapshot: a point-in-time copy of a volume, by its pool's mechanism (qcow2: an
internal snapshot in the volume's file), or by the QEMU of the running guest that holds
it (the same kind of snapshot, taken live). The volume is Snapshotting meanwhile; the
snapshot goes Creating -> CreatedOnPrimary, or Error with the pool's reason (the volume
back to Ready, untouched)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import DiskSnapshotInput
    from strato.domain.compute.steps import SNAPSHOT_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import PoolSnapshotInput, SnapshotOpInput, SnapshotResult
    from strato.domain.storage.steps import CREATE_SNAPSHOT
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.snapshot_ops import SnapshotOps


@workflow.defn(name=flows.CREATE_SNAPSHOT.name)
class CreateSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "snapshot on pool", "created")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SnapshotOpInput) -> SnapshotResult:
        ops = SnapshotOps(inp)
        return await ops.guard_snapshot(self._run(inp, ops))

    async def _run(self, inp: SnapshotOpInput, ops: SnapshotOps) -> SnapshotResult:
        # The command locked the volume and moved it (Snapshotting, the snapshot Creating).
        self.steps.enter("validate")
        vm = await ops.vm_begin(inp.vm_id) if inp.vm_id is not None else None
        assert inp.pool_name is not None
        try:
            if vm is not None and vm.state == "Running" and vm.host_name and inp.device:
                # The running guest's QEMU holds the image: it takes the snapshot.
                self.steps.enter("snapshot on pool", f"live, by {vm.host_name}")
                await ops.on_host(
                    SNAPSHOT_DISK,
                    vm.host_name,
                    DiskSnapshotInput(
                        name=vm.hypervisor_name, device=inp.device, snapshot=inp.storage_name
                    ),
                )
            else:
                self.steps.enter("snapshot on pool", inp.pool_name)
                await ops.on_pool(
                    CREATE_SNAPSHOT,
                    inp.pool_name,
                    PoolSnapshotInput(volume=inp.volume_name, snapshot=inp.storage_name),
                )
        except FailureError as err:
            raise await ops.fail(
                err,
                back_to="Ready",
                doing="snapshot",
                kind=error_type(err),
                snapshot_id=inp.snapshot_id,
                snapshot_target="Error",
            ) from err
        self.steps.enter("created")
        await ops.finish(
            "Ready",
            snapshot_id=inp.snapshot_id,
            snapshot_target="CreatedOnPrimary",
            snapshot_size_bytes=inp.size_bytes,
        )
        self.steps.finish(f"{inp.snapshot_name} of {inp.volume_name}")
        return ops.result("CreatedOnPrimary")
