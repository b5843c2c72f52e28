"""ExpungeVolume: after a durable timer, a Destroy volume's file is deleted and its pool
claim released, and it is Expunged.

Two kinds of run share this type, as with ExpungeVm: the destroy's delayed expunge
(``volume-expunge:<volume id>``, no operation of its own; it takes the lock when it fires,
if the volume is still Destroy and unlocked) and an explicit expunge (an operation whose
lock the command took).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import ExpungeVolumeInput, VolumeResult
    from strato.domain.storage.steps import DELETE_VOLUME, VOLUME_EXPUNGE_BEGIN
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.volume_ops import AlreadyFinished, VolumeOps, result


BUSY_WAIT_S = 5.0


@workflow.defn(name=flows.EXPUNGE_VOLUME.name)
class ExpungeVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("waiting", "lock", "delete on pool", "expunged")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: ExpungeVolumeInput) -> VolumeResult:
        self.steps.enter("waiting", f"{inp.delay_s:g}s")
        if inp.delay_s > 0:
            await workflow.sleep(timedelta(seconds=inp.delay_s))
        op = inp.operation_id or workflow.uuid4()
        ops = VolumeOps(inp.volume_id, op, holds_lock=inp.operation_id is not None)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: ExpungeVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("lock")
        ctx = await ops.local(VOLUME_EXPUNGE_BEGIN, ops.ref)
        while ctx is not None and ctx.busy:
            # Still Destroy, but another operation holds it: its turn comes after.
            self.steps.enter("lock", "waiting for the operation that holds the volume")
            await workflow.sleep(timedelta(seconds=BUSY_WAIT_S))
            ctx = await ops.local(VOLUME_EXPUNGE_BEGIN, ops.ref)
        if ctx is None:  # recovered, already expunged, or another operation holds it
            self.steps.finish("nothing to expunge")
            return VolumeResult(volume_id=inp.volume_id, state="skipped")
        if ctx.finished:
            ops.finished = True
            raise AlreadyFinished(ctx)
        ops.holds_lock = True
        if ctx.pool_name is not None and ctx.path is not None:
            self.steps.enter("delete on pool", ctx.pool_name)
            try:
                await ops.on_pool(DELETE_VOLUME, ctx.pool_name, ctx.name)
            except FailureError as err:
                raise await ops.fail(
                    err, back_to="Error", doing="expunge", kind=error_type(err)
                ) from err
        self.steps.enter("expunged")
        done = await ops.finish("Expunged", release_pool=True)
        self.steps.finish()
        return result(done)
