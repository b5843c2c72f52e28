"""CreateVmSnapshot, RevertToVmSnapshot, DeleteVmSnapshot: a VM's disks (and memory) at one
instant, under the VM's lock; the VM stays Running or Stopped.

The command decided how (:mod:`strato.domain.compute.vm_snapshots`): by the running VM's
hypervisor with its memory, by its QEMU disk by disk, or by the stopped VM's pools. Each
operation settles its snapshot (Ready, Removed, or Error saying why) before it lets go of
the VM. A take that fails deletes what it took from the disks it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import (
        DiskSnapshotInput,
        DisksSnapshotInput,
        VmContext,
        VmResult,
    )
    from strato.domain.compute.steps import (
        DELETE_DISK_SNAPSHOT,
        DELETE_VM_SNAPSHOT,
        REVERT_VM,
        SNAPSHOT_DISKS,
        SNAPSHOT_VM,
        VM_SNAPSHOT_SETTLE,
    )
    from strato.domain.compute.vm_snapshots import (
        MachineSnapshotInput,
        VmSnapshotInput,
        VmSnapshotSettle,
    )
    from strato.domain.progress import StepProgress
    from strato.domain.storage.payloads import PoolSnapshotInput
    from strato.domain.storage.steps import CREATE_SNAPSHOT, DELETE_SNAPSHOT, REVERT_SNAPSHOT
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.policies import BEST_EFFORT_RETRY, HOST_RETRY
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps

# Saving or loading a machine's memory takes as long as writing or reading it.
MACHINE_TIMEOUT = timedelta(minutes=30)


def _machine(inp: VmSnapshotInput) -> MachineSnapshotInput:
    assert inp.hypervisor_name is not None
    return MachineSnapshotInput(name=inp.hypervisor_name, snapshot=inp.tag)


def _live(inp: VmSnapshotInput, device: str) -> DiskSnapshotInput:
    assert inp.hypervisor_name is not None
    return DiskSnapshotInput(name=inp.hypervisor_name, device=device, snapshot=inp.tag)


async def _take(ops: VmOps, inp: VmSnapshotInput) -> None:
    if inp.how == "memory" and inp.host:
        await ops.on_host(SNAPSHOT_VM, inp.host, _machine(inp), timeout=MACHINE_TIMEOUT)
        return
    if inp.how == "live" and inp.host:  # every disk at one instant, by the running QEMU
        assert inp.hypervisor_name is not None
        devices = [d.device for d in inp.disks]
        arg = DisksSnapshotInput(name=inp.hypervisor_name, devices=devices, snapshot=inp.tag)
        await ops.on_host(SNAPSHOT_DISKS, inp.host, arg)
        return
    for d in inp.disks:
        snap = PoolSnapshotInput(volume=d.name, snapshot=inp.tag)
        await ops.on_pool(CREATE_SNAPSHOT, d.pool, snap)


async def _revert(ops: VmOps, inp: VmSnapshotInput) -> None:
    if inp.how == "memory" and inp.host:
        await ops.on_host(REVERT_VM, inp.host, _machine(inp), timeout=MACHINE_TIMEOUT)
        return
    done: list[str] = []
    for d in inp.disks:
        snap = PoolSnapshotInput(volume=d.name, snapshot=inp.tag)
        try:
            await ops.on_pool(REVERT_SNAPSHOT, d.pool, snap)
        except FailureError as err:
            if not done:
                raise
            # Some disks are back at the snapshot, the others not: say which, so the
            # revert is asked again before the VM boots on disks of two instants.
            rest = [x.device for x in inp.disks if x.device not in done]
            raise ApplicationError(
                f"{', '.join(done)} reverted, {', '.join(rest)} not ({failure_reason(err)}): "
                "revert again before starting the VM",
                type=error_type(err),
                non_retryable=True,
            ) from None
        done.append(d.device)


async def _delete(ops: VmOps, inp: VmSnapshotInput, policy: RetryPolicy = HOST_RETRY) -> None:
    if inp.how == "memory" and inp.host:
        await ops.on_host(DELETE_VM_SNAPSHOT, inp.host, _machine(inp), retry=policy)
        return
    for d in inp.disks:
        if inp.how == "live" and inp.host:
            await ops.on_host(DELETE_DISK_SNAPSHOT, inp.host, _live(inp, d.device), retry=policy)
        else:
            snap = PoolSnapshotInput(volume=d.name, snapshot=inp.tag)
            await ops.on_pool(DELETE_SNAPSHOT, d.pool, snap, retry=policy)


async def _settle(ops: VmOps, inp: VmSnapshotInput, state: str, error: str | None = None) -> None:
    settled = VmSnapshotSettle(
        vm_snapshot_id=inp.vm_snapshot_id,
        operation_id=inp.operation_id,
        state=state,
        error=error,
    )
    await ops.local(VM_SNAPSHOT_SETTLE, settled)


async def _begin(ops: VmOps, inp: VmSnapshotInput, on_failure: str) -> VmContext:
    """The VM locked, still Running (the host acts) or not (the pools act) as the command
    saw it; else the snapshot settled and the VM let go, with a conflict."""
    ctx = await ops.begin("")  # it stays Running or Stopped
    running = ctx.state == "Running"
    if (inp.how != "pools") != running or (running and ctx.host_name != inp.host):
        why = f"VM {ctx.name} is {ctx.state} now, on {ctx.host_name or 'no host'}: try again"
        await _settle(ops, inp, on_failure, why)
        await ops.finish(ctx.state)
        raise ApplicationError(why, type="conflict", non_retryable=True)
    return ctx


def _done(ctx: VmContext) -> VmResult:
    return VmResult(vm_id=ctx.vm_id, state=ctx.state, host_id=ctx.host_id, host_name=ctx.host_name)


def _where(inp: VmSnapshotInput) -> str:
    if inp.how == "pools":
        return f"{len(inp.disks)} disk(s), by their pools"
    return f"on {inp.host}" + (" with its memory" if inp.how == "memory" else ", disk by disk")


async def _take_or_undo(ops: VmOps, inp: VmSnapshotInput) -> None:
    """Taken; or, failing, deleted from the disks it reached as far as it can be."""
    try:
        await _take(ops, inp)
    except FailureError:
        with contextlib.suppress(FailureError):
            await _delete(ops, inp, BEST_EFFORT_RETRY)
        raise


Act = Callable[[VmOps, VmSnapshotInput], Awaitable[None]]


@dataclass(frozen=True)
class _Operation:
    """One VM snapshot operation: what it does, the snapshot's state once done and once
    failed, and how its failure is said."""

    act: Act
    step: str
    done_state: str
    failed_state: str
    doing: str
    done: str

    async def run(self, steps: Steps, inp: VmSnapshotInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        try:
            return await ops.guard(self._run(steps, inp, ops))
        except FailureError as err:  # the snapshot settled too, saying why (idempotent)
            await _settle(ops, inp, self.failed_state, failure_reason(err))
            raise
        except asyncio.CancelledError:  # cancelled: settled all the same, then ended
            await asyncio.shield(
                _settle(ops, inp, self.failed_state, "the operation was cancelled")
            )
            raise

    async def _run(self, steps: Steps, inp: VmSnapshotInput, ops: VmOps) -> VmResult:
        steps.enter("validate")
        # Nothing done yet: a new snapshot is Error, a revert's or a delete's goes back to
        # the state it had.
        ctx = await _begin(ops, inp, "Error" if self.step == "snapshot" else inp.from_state)
        try:
            steps.enter(self.step, _where(inp))
            await self.act(ops, inp)
        except FailureError as err:
            await _settle(
                ops, inp, self.failed_state, f"{self.doing} failed: {failure_reason(err)}"
            )
            raise await ops.abandon(
                ctx,
                err,
                back_to=ctx.state,
                doing=self.doing,
                done=self.done,
                kind=error_type(err),
            ) from err
        steps.enter(self.done_state.lower())
        await _settle(ops, inp, self.done_state)
        await ops.finish(ctx.state)
        steps.finish(inp.tag)
        return _done(ctx)


# A revert that fails leaves the snapshot whole: Ready again, saying why.
_CREATE = _Operation(_take_or_undo, "snapshot", "Ready", "Error", "VM snapshot", "snapshotted")
_REVERT = _Operation(_revert, "revert", "Ready", "Ready", "revert to VM snapshot", "reverted")
_DELETE = _Operation(_delete, "delete", "Removed", "Error", "VM snapshot delete", "rid of it")


@workflow.defn(name=flows.CREATE_VM_SNAPSHOT.name)
class CreateVmSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "snapshot", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VmSnapshotInput) -> VmResult:
        return await _CREATE.run(self.steps, inp)


@workflow.defn(name=flows.REVERT_VM_SNAPSHOT.name)
class RevertToVmSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "revert", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VmSnapshotInput) -> VmResult:
        return await _REVERT.run(self.steps, inp)


@workflow.defn(name=flows.DELETE_VM_SNAPSHOT.name)
class DeleteVmSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "delete", "removed")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: VmSnapshotInput) -> VmResult:
        return await _DELETE.run(self.steps, inp)
