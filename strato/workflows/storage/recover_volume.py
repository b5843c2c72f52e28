"""RecoverVolume: a Destroy volume comes back (Ready with its file, else Allocated) and
its pending expunge is cancelled."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.ids import workflow_id
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import VolumeRef, VolumeResult
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.RECOVER_VOLUME.name)
class RecoverVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "cancel expunge", "recovered")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VolumeRef) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: VolumeRef, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        vol = await ops.begin()
        self.steps.enter("cancel expunge")
        # Holding the lock keeps the timer from expunging; cancelling ends the wait.
        handle = workflow.get_external_workflow_handle(
            workflow_id("volume", "expunge", inp.volume_id)
        )
        try:
            await handle.cancel()
        except Exception:  # no such run: nothing was pending
            workflow.logger.info("no pending expunge for %s", inp.volume_id)
        self.steps.enter("recovered")
        ctx = await ops.finish("Ready" if vol.path else "Allocated")
        self.steps.finish()
        return result(ctx)
