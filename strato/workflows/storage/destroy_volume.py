"""DestroyVolume: a detached data volume is marked Destroy; its file and claim go when
ExpungeVolume's durable timer fires (after the expunge delay, unless RecoverVolume
cancels it), or at once with ``expunge``."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.ids import workflow_id
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import DestroyVolumeInput, ExpungeVolumeInput, VolumeResult
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import VolumeOps, result


@workflow.defn(name=flows.DESTROY_VOLUME.name)
class DestroyVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "destroyed", "expunge")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DestroyVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: DestroyVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        await ops.begin()
        self.steps.enter("destroyed")
        delay = 0.0 if inp.expunge else inp.expunge_delay_s
        ctx = await ops.finish("Destroy", destroyed=True, expunge_delay_s=delay)
        self.steps.enter("expunge", "now" if inp.expunge else f"in {delay:g}s unless recovered")
        # The delayed expunge is the volume's singleton timer (RecoverVolume cancels it by
        # its id); an immediate one is this operation's own run.
        wid = workflow_id("volume", "expunge", inp.volume_id, None if delay else inp.operation_id)
        try:
            child = await workflow.start_child_workflow(
                flows.EXPUNGE_VOLUME.name,
                ExpungeVolumeInput(volume_id=inp.volume_id, delay_s=delay),
                id=wid,
                parent_close_policy=ParentClosePolicy.ABANDON,
                task_queue=workflow.info().task_queue,
            )
        except WorkflowAlreadyStartedError:
            # A timer of an earlier destroy still waits: it expunges this volume too.
            self.steps.finish("an expunge is already scheduled")
            return result(ctx)
        if inp.expunge:
            done: VolumeResult = await child
            self.steps.finish("expunged")
            return done
        self.steps.finish(f"expunge scheduled in {delay:g}s")
        return result(ctx)
