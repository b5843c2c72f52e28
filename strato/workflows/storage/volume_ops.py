"""Steps shared by the volume workflows: how each activity is called, the volume's lock
and, for attach, detach and resize of an attached volume, the VM's.

The command took both locks for the operation. The operation's last steps release them:
the volume's first (with its attachment and event), then the VM's, so nothing can boot
the VM between the change on the host and its record. The guard settles both if the
operation ends on a failure its code did not handle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import (
        VmBeginInput,
        VmContext,
        VmFailSafeInput,
        VmFinishInput,
        VmRef,
        VmVolumeBeginInput,
        VmVolumeFinishInput,
    )
    from strato.domain.compute.steps import (
        VM_BEGIN,
        VM_FAIL_SAFE,
        VM_VOLUME_BEGIN,
        VM_VOLUME_FINISH,
    )
    from strato.domain.ids import compute_queue, storage_queue
    from strato.domain.steps import Step
    from strato.domain.storage.payloads import (
        VolumeBeginInput,
        VolumeContext,
        VolumeFailSafeInput,
        VolumeFinishInput,
        VolumeRef,
        VolumeResult,
        device_name,
    )
    from strato.domain.storage.steps import (
        VOLUME_BEGIN,
        VOLUME_FAIL_SAFE,
        VOLUME_FINISH,
    )
    from strato.workflows.common import calls
    from strato.workflows.common.failures import failure_reason
    from strato.workflows.common.guard import guarded
    from strato.workflows.common.policies import (
        HOST_HEARTBEAT,
        HOST_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        SCHEDULE_TO_START,
        SETTLE_RETRY,
    )

I = TypeVar("I")  # noqa: E741 - a step's input type
R = TypeVar("R")
T = TypeVar("T")


class VolumeOps:
    """A volume's activities, bound to one volume and one operation."""

    def __init__(
        self, volume_id: UUID, operation_id: UUID | None, *, holds_lock: bool = True
    ) -> None:
        self.ref = VolumeRef(volume_id=volume_id, operation_id=operation_id)
        self.holds_lock = holds_lock and operation_id is not None
        self.finished = False
        self.vm: VmContext | None = None  # the VM whose lock this operation holds
        # Other volumes this operation locked (a copy's source), settled with this one.
        self.others: list[UUID] = []
        # The VM the command locked for this operation (settled even before a step read it).
        self.vm_locked: UUID | None = None

    async def local(self, step: Step[I, R], arg: I) -> R:
        return await calls.local(step, arg, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)

    async def on_pool(
        self,
        step: Step[I, R],
        pool: str,
        arg: I,
        timeout: timedelta = timedelta(seconds=600),  # noqa: ASYNC109 - Temporal's timeout
        retry: RetryPolicy = HOST_RETRY,
    ) -> R:
        return await calls.remote(
            step,
            arg,
            queue=storage_queue(pool),
            reach=SCHEDULE_TO_START,
            timeout=timeout,
            heartbeat=HOST_HEARTBEAT,
            retry=retry,
        )

    async def on_host(
        self,
        step: Step[I, R],
        host: str,
        arg: I,
        timeout: timedelta = timedelta(seconds=120),  # noqa: ASYNC109 - Temporal's timeout
    ) -> R:
        return await calls.remote(
            step,
            arg,
            queue=compute_queue(host),
            reach=SCHEDULE_TO_START,
            timeout=timeout,
            heartbeat=HOST_HEARTBEAT,
            retry=HOST_RETRY,
        )

    async def begin(self, target: str = "") -> VolumeContext:
        """Check the lock (entering ``target`` if set). If this operation already
        finished (its first step ran again), the run ends with that outcome."""
        arg = VolumeBeginInput(**self.ref.model_dump(), target=target)
        ctx = await self.local(VOLUME_BEGIN, arg)
        if ctx.finished:
            self.finished = True
            raise AlreadyFinished(ctx)
        return ctx

    async def begin_with_vm(self, vm_id: UUID) -> tuple[VolumeContext, VmContext]:
        """The volume's first step and the VM's (locked by the command too), in one."""
        arg = VmVolumeBeginInput(volume=VolumeBeginInput(**self.ref.model_dump()), vm_id=vm_id)
        both = await self.local(VM_VOLUME_BEGIN, arg)
        if both.volume.finished or both.vm is None:
            self.finished = True
            raise AlreadyFinished(both.volume)
        self.vm = both.vm
        return both.volume, both.vm

    async def finish(self, target: str, **kw: Any) -> VolumeContext:
        """The last step: the volume's state and lock, and the VM's lock if this operation
        holds it (then in the same step)."""
        volume = VolumeFinishInput(**self.ref.model_dump(), target=target, **kw)
        vm, self.vm = self.vm, None
        if vm is not None and not vm.finished and self.ref.operation_id is not None:
            self.vm_locked = None
            back = VmFinishInput(
                vm_id=vm.vm_id,
                operation_id=self.ref.operation_id,
                target=vm.state,
                error=vm.last_error,
                error_type=vm.last_error_type,
            )
            ctx = await self.local(VM_VOLUME_FINISH, VmVolumeFinishInput(volume=volume, vm=back))
        else:
            self.vm = vm
            ctx = await self.local(VOLUME_FINISH, volume)
        self.finished = True
        return ctx

    async def vm_begin(self, vm_id: UUID) -> VmContext:
        """The VM this operation locked too, as it is now (its state does not change)."""
        arg = VmBeginInput(vm_id=vm_id, operation_id=self.ref.operation_id, target="")
        self.vm = await self.local(VM_BEGIN, arg)
        return self.vm

    async def fail(
        self, err: FailureError, *, back_to: str, doing: str, kind: str, **kw: Any
    ) -> ApplicationError:
        """The last steps of a failed operation: the volume back to a state that says why,
        the VM's lock released. Returns the error for the workflow to raise."""
        reason = failure_reason(err)
        await self.finish(back_to, error=f"{doing} failed: {reason}", error_type=kind, **kw)
        return ApplicationError(f"{doing} failed: {reason}", type=kind, non_retryable=True)

    async def guard(self, body: Awaitable[VolumeResult], vm_id: UUID | None = None) -> VolumeResult:
        """Run the body inside the shared guard; ``vm_id``: the VM the command locked."""
        return await self.guarded(body, vm_id, result)

    async def guarded(
        self, body: Awaitable[T], vm_id: UUID | None, outcome: Callable[[VolumeContext], T]
    ) -> T:
        """The guard, for any result type: ``outcome`` makes the result of a run whose
        operation had already finished."""

        self.vm_locked = vm_id

        async def run() -> T:
            try:
                return await body
            except AlreadyFinished as done:
                # Its last step gave the VM's lock back with the volume's.
                return outcome(done.ctx)

        return await guarded(run(), self._settle)

    async def _settle(self, reason: str, kind: str) -> None:
        for other in self.others:
            await calls.local(
                VOLUME_FAIL_SAFE,
                VolumeFailSafeInput(
                    volume_id=other, operation_id=self.ref.operation_id, error=reason, kind=kind
                ),
                timeout=LOCAL_TIMEOUT,
                retry=SETTLE_RETRY,
            )
        self.others = []
        if self.holds_lock and not self.finished:
            await calls.local(
                VOLUME_FAIL_SAFE,
                VolumeFailSafeInput(**self.ref.model_dump(), error=reason, kind=kind),
                timeout=LOCAL_TIMEOUT,
                retry=SETTLE_RETRY,
            )
            self.finished = True
        # The VM the command locked, whether or not a step read it yet (a no-op if this
        # operation no longer holds it).
        vm_id = self.vm.vm_id if self.vm is not None else self.vm_locked
        if vm_id is not None and not (self.vm is not None and self.vm.finished):
            await calls.local(
                VM_FAIL_SAFE,
                VmFailSafeInput(
                    **VmRef(vm_id=vm_id, operation_id=self.ref.operation_id).model_dump(),
                    error=reason,
                    kind=kind,
                ),
                timeout=LOCAL_TIMEOUT,
                retry=SETTLE_RETRY,
            )
            self.vm = None
            self.vm_locked = None


def result(ctx: VolumeContext) -> VolumeResult:
    return VolumeResult(
        volume_id=ctx.volume_id,
        state=ctx.state,
        vm_id=ctx.vm_id,
        device=device_name(ctx.device_id) if ctx.device_id is not None else None,
        size_bytes=ctx.size_bytes,
    )


class AlreadyFinished(Exception):
    """This operation's first step found it finished already."""

    def __init__(self, ctx: VolumeContext) -> None:
        super().__init__(str(ctx.volume_id))
        self.ctx = ctx
