"""CreateVolumeFromSnapshot: a new standalone volume, made next to its source on the
source's pool from one of its snapshots (``qemu-img convert`` of the snapshot). The new
volume goes Creating -> Ready; the source (locked meanwhile, with its stopped VM if it is
attached) is untouched. A failed copy leaves the new volume Error, with the reason and no
file or claim, and the source as it was."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import (
        PoolCopyInput,
        VolumeFinishInput,
        VolumeFromSnapshotInput,
        VolumeResult,
    )
    from strato.domain.storage.steps import COPY_SNAPSHOT, VOLUME_FINISH
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.VOLUME_FROM_SNAPSHOT.name)
class CreateVolumeFromSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "copy on pool", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VolumeFromSnapshotInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        ops.others = [inp.source_volume_id]
        return await ops.guard(self._run(inp, ops), inp.vm_id)

    async def _run(self, inp: VolumeFromSnapshotInput, ops: VolumeOps) -> VolumeResult:
        # The command made the new volume (Creating, claimed on the source's pool) and
        # locked it, the source and the source's stopped VM, if any.
        self.steps.enter("validate")
        if inp.vm_id is not None:
            await ops.vm_begin(inp.vm_id)
        self.steps.enter("copy on pool", inp.pool_name)
        copy = PoolCopyInput(volume=inp.source_name, snapshot=inp.storage_name, new=inp.name)
        try:
            info = await ops.on_pool(COPY_SNAPSHOT, inp.pool_name, copy)
        except FailureError as err:
            await self._release_source(ops, inp)
            raise await ops.fail(
                err, back_to="Error", doing="copy", kind=error_type(err), release_pool=True
            ) from err
        self.steps.enter("ready")
        await self._release_source(ops, inp)
        done = await ops.finish("Ready", path=info.path)
        self.steps.finish(f"{inp.name} from {inp.source_name}")
        return result(done)

    async def _release_source(self, ops: VolumeOps, inp: VolumeFromSnapshotInput) -> None:
        """The source's lock back, its state as it was (Ready)."""
        await ops.local(
            VOLUME_FINISH,
            VolumeFinishInput(
                volume_id=inp.source_volume_id, operation_id=inp.operation_id, target="Ready"
            ),
        )
        ops.others = []
