"""ExpungeVm: after a durable timer, remove everything of a Destroyed VM for good.

Two kinds of run share this workflow type:
- the destroy's delayed expunge (``vm-expunge:<vm id>``, no operation id of its own): its
  durable timer survives any restart, a cancellation (RecoverVm) ends it before anything
  is removed, and when it fires it takes the VM's lock only if the VM is still Destroyed
  and unlocked;
- an explicit expunge, an operation with its own run and the VM's lock taken by the API:
  if the timer fires meanwhile it finds the lock taken and ends with nothing to do.
``expunge_now`` is kept for runs started before explicit expunges had runs of their own.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import (
        ExpungeVmInput,
        VmContext,
        VmFinishInput,
        VmRef,
        VmResult,
    )
    from strato.domain.compute.steps import (
        VM_DESTROY_EXPUNGE,
        VM_EXPUNGE_BEGIN,
        VM_EXPUNGED,
        VM_RELEASE_NICS,
        VM_SNAPSHOT_DATA_TAGS,
    )
    from strato.domain.progress import StepProgress
    from strato.domain.storage.payloads import PoolSnapshotInput
    from strato.domain.storage.steps import DELETE_SNAPSHOT, DELETE_VOLUME, VOLUMES_EXPUNGED
    from strato.workflows.common.failures import failure_reason
    from strato.workflows.common.policies import BEST_EFFORT_RETRY
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import AlreadyFinished, VmOps

# Runs started with it delete the VM snapshots off the data volumes the VM leaves behind.
VM_SNAPSHOTS_OFF_DATA = "vm-snapshots-off-data-disks"


@workflow.defn(name=flows.EXPUNGE_VM.name)
class ExpungeVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps(
            "waiting", "lock", "remove from host", "delete volumes", "release addresses", "expunged"
        )
        self.now_operation: UUID | None = None
        self.now = False

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.signal(name="expunge_now")
    def expunge_now(self, ref: VmRef) -> None:
        self.now = True
        self.now_operation = ref.operation_id

    @workflow.run
    async def run(self, inp: ExpungeVmInput) -> VmResult:
        snapshots_off_data = workflow.patched(VM_SNAPSHOTS_OFF_DATA)  # before the first step
        self.steps.enter("waiting", f"{inp.delay_s:g}s")
        if inp.delay_s > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.now, timeout=timedelta(seconds=inp.delay_s)
                )
        op = self.now_operation or inp.operation_id or workflow.uuid4()
        # An explicit expunge (an operation of its own) holds the VM's lock from the API
        # on; the destroy's delayed expunge takes it in its first step, if the VM is
        # still there to expunge.
        ops = VmOps(inp.vm_id, op, holds_lock=(self.now_operation or inp.operation_id) is not None)
        ops.snapshots_off_data = snapshots_off_data
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: ExpungeVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("lock")
        return await expunge(ops, self.steps)


async def expunge(ops: VmOps, steps: Steps) -> VmResult:
    """Take the lock (Destroyed -> Expunging) and remove everything of the VM for good:
    its domain, its volumes, its addresses."""
    vm_id = ops.ref.vm_id
    ctx = await ops.local(VM_EXPUNGE_BEGIN, ops.ref)
    if ctx is None:  # recovered, already expunged, or another operation expunges it
        steps.finish("nothing to expunge")
        return VmResult(vm_id=vm_id, state="skipped")
    if ctx.finished:  # this expunge already ran to its end (its first step runs again)
        ops.finished = True
        raise AlreadyFinished(ctx)
    ops.holds_lock = True
    notes = await _remove(ops, steps, ctx, undefined_on=None)
    await ops.local(VOLUMES_EXPUNGED, ops.ref)
    steps.enter("release addresses")
    notes.extend(await ops.unplug_nics(ctx, expunging=True))
    await ops.local(VM_RELEASE_NICS, ops.ref)
    await ops.finish("Expunged", error="; ".join(notes) or None)
    steps.finish()
    return VmResult(vm_id=vm_id, state="Expunged")


async def expunge_in_destroy(ops: VmOps, steps: Steps, *, undefined_on: str | None) -> VmResult:
    """A destroy that expunges at once, under its lock: one step to Destroyed and on to
    Expunging, the domain (unless the stop just undefined it on ``undefined_on``) and the
    volume removed, then one step that releases everything and records it Expunged."""
    ctx = await ops.local(VM_DESTROY_EXPUNGE, ops.ref)
    if ctx is None:
        raise ApplicationError(
            f"VM {ops.ref.vm_id} could not enter Expunging", type="conflict", non_retryable=True
        )
    if ctx.finished:
        ops.finished = True
        raise AlreadyFinished(ctx)
    notes = await _remove(ops, steps, ctx, undefined_on=undefined_on)
    steps.enter("release addresses")
    notes.extend(await ops.unplug_nics(ctx, expunging=True))
    await ops.local(
        VM_EXPUNGED,
        VmFinishInput(**ops.ref.model_dump(), target="Expunged", error="; ".join(notes) or None),
    )
    ops.finished = True
    steps.finish()
    return VmResult(vm_id=ops.ref.vm_id, state="Expunged")


async def _remove(
    ops: VmOps, steps: Steps, ctx: VmContext, *, undefined_on: str | None
) -> list[str]:
    """The domain (best effort) and the root volume of a VM being expunged; raises (the VM
    back to Error) when the volume cannot be deleted."""
    steps.enter("remove from host")
    notes: list[str] = []
    if ctx.last_host_name and ctx.last_host_name != undefined_on:
        note = await ops.best_effort_undefine(ctx.last_host_name, ctx.hypervisor_name)
        if note:
            notes.append(note)
    steps.enter("delete volumes")
    if ctx.root_pool_name and ctx.root_volume_name:
        try:
            await ops.on_pool(DELETE_VOLUME, ctx.root_pool_name, ctx.root_volume_name)
        except FailureError as err:
            raise await ops.abandon(
                ctx,
                err,
                back_to="Error",
                doing="expunge",
                done="expunged",
                kind="expunge-failed",
            ) from err
    if ops.snapshots_off_data:
        notes += await _snapshots_off_data(ops)
    return notes


async def _snapshots_off_data(ops: VmOps) -> list[str]:
    """The VM's snapshots deleted from its data volumes (its root's went with its file);
    best effort: what could not be deleted is said, and stays in the volume's file."""
    notes = []
    for t in await ops.local(VM_SNAPSHOT_DATA_TAGS, ops.ref):
        try:
            snap = PoolSnapshotInput(volume=t.volume, snapshot=t.tag)
            await ops.on_pool(DELETE_SNAPSHOT, t.pool, snap, retry=BEST_EFFORT_RETRY)
        except FailureError as err:
            notes.append(f"VM snapshot {t.tag} left on {t.volume}: {failure_reason(err)}")
    return notes
