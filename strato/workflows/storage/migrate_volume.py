"""MigrateVolume: a volume's file moves to another pool of its zone. With its VM stopped (or
detached) the target pool makes a copy of the file (its internal snapshots travel with
it). With its VM running, live: the target pool prepares the file (a clone of its own
template copy for a root disk, else an empty image of the volume's size) and the host's
QEMU mirrors the disk into it and pivots (the volume has no snapshots to carry). A root disk
cloned from a template the template service keeps is rebased onto the target pool's own
copy of that template, made first. Then the volume is recorded there and the source file
deleted. The command reserved room on the target (the claim moved); a failed copy
deletes what the target made, moves the claim back and leaves the volume Ready where it
was, with the reason. A source file that cannot be deleted afterwards is left for
``strato doctor`` (an orphan volume) and named in the result."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import MoveDiskInput
    from strato.domain.compute.steps import MOVE_DISK
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import MigrateVolumeInput, PoolImportInput, VolumeResult
    from strato.domain.storage.specs import VolumeInfo, VolumeSpec
    from strato.domain.storage.steps import CREATE_VOLUME, DELETE_VOLUME, IMPORT_VOLUME
    from strato.domain.storage.templates import cache_name
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.policies import BEST_EFFORT_RETRY
    from strato.workflows.common.progress import Steps
    from strato.workflows.storage.template_cache import ensure_cached
    from strato.workflows.storage.volume_ops import VolumeOps, result


# Mirroring a disk takes as long as copying it while the guest keeps writing.
LIVE_TIMEOUT = timedelta(hours=4)


@workflow.defn(name=flows.MIGRATE_VOLUME.name)
class MigrateVolumeWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "copy to target pool", "switch", "delete source")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: MigrateVolumeInput) -> VolumeResult:
        ops = VolumeOps(inp.volume_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops), inp.vm_id)

    async def _live(
        self, inp: MigrateVolumeInput, ops: VolumeOps, backing: str | None
    ) -> VolumeInfo:
        """The file prepared on the target pool, the running disk mirrored into it."""
        assert inp.live_host and inp.hypervisor_name and inp.device
        spec = VolumeSpec(name=inp.name, size_bytes=inp.size_bytes, template_name=backing)
        made = await ops.on_pool(CREATE_VOLUME, inp.target_pool, spec)
        self.steps.enter("copy to target pool", f"live, by {inp.live_host}'s QEMU")
        move = MoveDiskInput(
            name=inp.hypervisor_name, device=inp.device, dest=made.path, shallow=backing is not None
        )
        await ops.on_host(MOVE_DISK, inp.live_host, move, timeout=LIVE_TIMEOUT)
        return made

    async def _run(self, inp: MigrateVolumeInput, ops: VolumeOps) -> VolumeResult:
        self.steps.enter("validate")
        if inp.vm_id is not None:
            await ops.begin_with_vm(inp.vm_id)
        else:
            await ops.begin()
        self.steps.enter("copy to target pool", f"{inp.source_pool} -> {inp.target_pool}")
        try:
            backing = None
            if inp.template_id is not None:
                assert inp.operation_id is not None
                backing = await ensure_cached(
                    inp.template_id, inp.target_pool_id, inp.target_pool, inp.operation_id
                )
                assert backing == cache_name(inp.template_id)
            if inp.live_host is not None:
                info = await self._live(inp, ops, backing)
            else:
                copy = PoolImportInput(
                    name=inp.name,
                    source=inp.source_path,
                    size_bytes=inp.size_bytes,
                    backing=backing,
                )
                info = await ops.on_pool(IMPORT_VOLUME, inp.target_pool, copy)
        except FailureError as err:
            if inp.live_host is not None and not _still_on_source(err):
                # The host never said: the guest may be on either file. Neither is
                # deleted; an operator looks (the volume says why).
                raise await ops.fail(
                    err,
                    back_to="Error",
                    doing=f"live migration (its guest may be on {inp.target_pool} or "
                    f"{inp.source_pool}: both files are kept)",
                    kind=error_type(err),
                    claim_back_to=inp.source_pool_id,
                ) from err
            await _best_effort_delete(ops, inp.target_pool, inp.name)
            raise await ops.fail(
                err,
                back_to="Ready",
                doing="migration",
                kind=error_type(err),
                claim_back_to=inp.source_pool_id,
            ) from err
        self.steps.enter("switch", inp.target_pool)
        done = await ops.finish("Ready", pool_id=inp.target_pool_id, path=info.path)
        self.steps.enter("delete source", inp.source_pool)
        left = await _best_effort_delete(ops, inp.source_pool, inp.name)
        self.steps.finish(f"on {inp.target_pool}" + (f"; {left}" if left else ""))
        return result(done)


def _still_on_source(err: FailureError) -> bool:
    """A failure a step reported itself (an ApplicationError: the driver leaves the disk
    on its old file when it fails), not a step that never answered, nor a move the
    driver found on neither file (``move-uncertain``)."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause.type != "move-uncertain"
        cause = cause.__cause__
    return False


async def _best_effort_delete(ops: VolumeOps, pool: str, name: str) -> str | None:
    try:
        await ops.on_pool(DELETE_VOLUME, pool, name, retry=BEST_EFFORT_RETRY)
    except FailureError as err:
        return f"{name} left on {pool} ({failure_reason(err)}): strato doctor deletes it"
    return None
