"""AttachIso and DetachIso: an ISO in a VM's CD-ROM drive (CloudStack's attachIso and
detachIso), under the VM's lock; the VM stays Running or Stopped.

Attach copies the ISO once to the pool of the VM's root volume (the template cache: the
pool's hosts read it there, never from secondary storage; a copy in use is not evicted),
inserts it in a running VM's drive on its host, then records it: every later boot of the
VM inserts it. Detach ejects it from a running VM, then records the drive empty. A
failure leaves the VM as it was, saying why.
"""

from __future__ import annotations

from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import IsoInput, MediaInput, VmContext, VmIsoInput, VmResult
    from strato.domain.compute.steps import CHANGE_MEDIA, VM_SET_ISO
    from strato.domain.progress import StepProgress
    from strato.domain.storage.steps import VOLUME_INFO
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps
    from strato.workflows.storage.template_cache import ensure_cached


async def _recorded(ops: VmOps, ctx: VmContext, iso_id: UUID | None, path: str | None) -> VmResult:
    """The VM's ISO recorded, the operation finished with the VM where it was."""
    iso = VmIsoInput(**ops.ref.model_dump(), iso_id=iso_id, iso_path=path)
    await ops.local(VM_SET_ISO, iso)
    await ops.finish(ctx.state)
    return VmResult(vm_id=ctx.vm_id, state=ctx.state, host_id=ctx.host_id, host_name=ctx.host_name)


async def _abandoned(
    ops: VmOps, ctx: VmContext, err: FailureError, doing: str, done: str
) -> ApplicationError:
    """The VM back where it was, saying why; the error to raise."""
    kind = error_type(err)
    return await ops.abandon(ctx, err, back_to=ctx.state, doing=doing, done=done, kind=kind)


async def _insert(ops: VmOps, ctx: VmContext, path: str | None) -> None:
    """The medium of a running VM's drive; a stopped VM gets it at its next boot."""
    if ctx.state == "Running" and ctx.host_name:
        media = MediaInput(name=ctx.hypervisor_name, path=path)
        await ops.on_host(CHANGE_MEDIA, ctx.host_name, media)


@workflow.defn(name=flows.ATTACH_ISO.name)
class AttachIsoWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "copy to pool", "insert", "attached")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: IsoInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: IsoInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("")  # it stays Running or Stopped
        assert inp.iso_id is not None and ctx.root_pool_id and ctx.root_pool_name
        pool = ctx.root_pool_name
        try:
            self.steps.enter("copy to pool", pool)
            op = inp.operation_id or workflow.uuid4()
            name = await ensure_cached(inp.iso_id, ctx.root_pool_id, pool, op)
            path = (await ops.on_pool(VOLUME_INFO, pool, name)).path
            self.steps.enter("insert", ctx.host_name or "at its next start")
            await _insert(ops, ctx, path)
        except FailureError as err:
            raise await _abandoned(ops, ctx, err, "attach ISO", "given the ISO") from err
        self.steps.enter("attached")
        done = await _recorded(ops, ctx, inp.iso_id, path)
        self.steps.finish(path)
        return done


@workflow.defn(name=flows.DETACH_ISO.name)
class DetachIsoWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "eject", "detached")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: IsoInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(ops))

    async def _run(self, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("")
        try:
            self.steps.enter("eject", ctx.host_name or "stopped")
            await _insert(ops, ctx, None)
        except FailureError as err:
            raise await _abandoned(ops, ctx, err, "detach ISO", "rid of its ISO") from err
        self.steps.enter("detached")
        done = await _recorded(ops, ctx, None, None)
        self.steps.finish()
        return done
