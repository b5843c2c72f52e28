"""Steps shared by the VM workflows: how each activity is called, and place-and-boot.

Host-bound calls go to ``compute@<host>`` / ``storage@<pool>`` with a schedule-to-start
timeout, so a dead host fails the step fast instead of queueing forever.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import (
        ComputeVmInput,
        DeployVmInput,
        VmBeginInput,
        VmContext,
        VmFailSafeInput,
        VmFinishInput,
        VmRef,
        VmResult,
    )
    from strato.domain.compute.steps import (
        STOP_AND_UNDEFINE_VM,
        STOP_VM,
        UNDEFINE_VM,
        VM_ALLOCATE_NICS,
        VM_BEGIN,
        VM_FAIL_SAFE,
        VM_FINISH,
    )
    from strato.domain.ids import compute_queue, storage_queue
    from strato.domain.network.payloads import NicInfo, VmHostInput
    from strato.domain.network.steps import NETWORK_VM_JOINS, NETWORK_VM_LEAVES
    from strato.domain.steps import Step
    from strato.domain.storage.steps import DELETE_VOLUME
    from strato.workflows.common import calls
    from strato.workflows.common.failures import failure_reason
    from strato.workflows.common.guard import guarded
    from strato.workflows.common.policies import (
        BEST_EFFORT_RETRY,
        HOST_HEARTBEAT,
        HOST_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        SCHEDULE_TO_START,
        SETTLE_RETRY,
    )
    from strato.workflows.network import devices

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - a step's input type
R = TypeVar("R")


class VmOps:
    """The VM's activities, bound to one VM and one operation."""

    def __init__(
        self,
        vm_id: UUID,
        operation_id: UUID | None,
        *,
        reach_s: float | None = None,
        step_s: float | None = None,
        holds_lock: bool = True,
    ) -> None:
        self.ref = VmRef(vm_id=vm_id, operation_id=operation_id)
        self.reach = timedelta(seconds=reach_s) if reach_s else SCHEDULE_TO_START
        self.step = timedelta(seconds=step_s) if step_s else None
        # The guard settles the VM only while this operation holds its lock: from the
        # start (the API took it), or once a step took it (the delayed expunge); and
        # only until the operation's own last step released it.
        self.holds_lock = holds_lock and operation_id is not None
        self.finished = False
        # Decided when the workflow starts, before its first step (see DeployVm.run).
        self.stop_in_one_step = workflow.patched("stop-and-undefine-in-one-step")
        # Runs since this patch plug NICs on managed networks through the network agents.
        self.plugs_ports = workflow.patched("plug-managed-nics")
        # An expunge's: the VM snapshots deleted off the data volumes it leaves (set by
        # the expunging workflow, from its own patch, before its first step).
        self.snapshots_off_data = False

    @classmethod
    def for_boot(cls, inp: DeployVmInput) -> VmOps:
        """Ops of a deploy or start, with the input's host timeouts."""
        return cls(inp.vm_id, inp.operation_id, reach_s=inp.host_reach_s, step_s=inp.host_step_s)

    async def local(self, step: Step[I, R], arg: I) -> R:
        return await calls.local(step, arg, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)

    async def on_host(
        self,
        step: Step[I, R],
        host: str,
        arg: I,
        timeout: timedelta = timedelta(seconds=120),  # noqa: ASYNC109 - Temporal's timeout
        retry: RetryPolicy = HOST_RETRY,
    ) -> R:
        return await self._remote(step, compute_queue(host), arg, timeout, retry)

    async def on_pool(
        self,
        step: Step[I, R],
        pool: str,
        arg: I,
        timeout: timedelta = timedelta(seconds=600),  # noqa: ASYNC109 - Temporal's timeout
        retry: RetryPolicy = HOST_RETRY,
    ) -> R:
        return await self._remote(step, storage_queue(pool), arg, timeout, retry)

    async def _remote(
        self,
        step: Step[I, R],
        queue: str,
        arg: I,
        timeout: timedelta,  # noqa: ASYNC109 - Temporal's start-to-close timeout
        retry: RetryPolicy,
    ) -> R:
        """A host- or pool-bound step: schedule-to-start bounded, so a dead agent fails
        fast; the boot's step limit, if any, caps its timeout."""
        return await calls.remote(
            step,
            arg,
            queue=queue,
            reach=self.reach,
            timeout=min(timeout, self.step) if self.step else timeout,
            heartbeat=HOST_HEARTBEAT,
            retry=retry,
        )

    async def nics(self) -> list[NicInfo]:
        """The VM's NICs, allocating its default one if it has none (idempotent)."""
        return await self.local(VM_ALLOCATE_NICS, self.ref)

    async def plug_nics(self, host_id: UUID, nics: list[NicInfo]) -> list[NicInfo]:
        """The NICs on managed networks plugged on the VM's host by its network agent
        (their networks implemented, their routers applied with the VM's leases); each
        gets the device the hypervisor attaches it to."""
        if not self.plugs_ports or not any(n.managed for n in nics):
            return nics
        inp = VmHostInput(vm_id=self.ref.vm_id, host_id=host_id, operation_id=self.ref.operation_id)
        plan = await self.local(NETWORK_VM_JOINS, inp)
        ports = await devices.plug(plan)
        await devices.converge(plan)
        by_mac = {p.mac: p.device for p in ports}
        return [n.model_copy(update={"device": by_mac.get(n.mac, "")}) for n in nics]

    async def unplug_nics(self, ctx: VmContext, *, expunging: bool = False) -> list[str]:
        """The VM's ports off its host (a host whose agent fails is noted: drift the
        doctor reports); ``expunging``: its leases and rules off its routers."""
        if not self.plugs_ports or not ctx.managed_nics:
            return []
        inp = VmHostInput(
            vm_id=self.ref.vm_id, operation_id=self.ref.operation_id, expunging=expunging
        )
        plan = await self.local(NETWORK_VM_LEAVES, inp)
        return await devices.converge(plan, best_effort=True)

    async def begin(self, target: str, *, only_from: tuple[str, ...] = ()) -> VmContext:
        """The operation's first step. If this operation already finished (the step runs
        again because the workflow task that ran it was lost), the run ends with that
        outcome (:class:`AlreadyFinished`) instead of doing the operation twice."""
        arg = VmBeginInput(**self.ref.model_dump(), target=target, only_from=list(only_from))
        ctx = await self.local(VM_BEGIN, arg)
        if ctx.finished:
            self.finished = True
            raise AlreadyFinished(ctx)
        return ctx

    async def finish(self, target: str, **kw: Any) -> VmContext:
        ctx = await self.local(
            VM_FINISH, VmFinishInput(**self.ref.model_dump(), target=target, **kw)
        )
        self.finished = not kw.get("keep_lock", False)
        return ctx

    async def guard(self, body: Awaitable[VmResult]) -> VmResult:
        """Run the operation's body inside the shared guard (:mod:`guard`)."""

        async def run() -> VmResult:
            try:
                return await body
            except AlreadyFinished as done:
                return done.outcome()

        return await guarded(run(), self._settle)

    async def _settle(self, reason: str, kind: str) -> None:
        if not self.holds_lock or self.finished:
            return
        await calls.local(
            VM_FAIL_SAFE,
            VmFailSafeInput(**self.ref.model_dump(), error=reason, kind=kind),
            timeout=LOCAL_TIMEOUT,
            retry=SETTLE_RETRY,
        )
        self.finished = True

    async def stop_on_host(self, ctx: VmContext, *, force: bool, timeout_s: float) -> None:
        """Stop then undefine: a stopped VM keeps no domain, so hypervisor and DB agree."""
        assert ctx.host_name is not None
        arg = ComputeVmInput(name=ctx.hypervisor_name, timeout_s=timeout_s, force=force)
        timeout = timedelta(seconds=timeout_s + 60)
        if self.stop_in_one_step:
            await self.on_host(STOP_AND_UNDEFINE_VM, ctx.host_name, arg, timeout=timeout)
        else:
            await self.on_host(STOP_VM, ctx.host_name, arg, timeout=timeout)
            await self.on_host(UNDEFINE_VM, ctx.host_name, arg)
        await self.unplug_nics(ctx)

    async def abandon(
        self,
        ctx: VmContext,
        err: BaseException,
        *,
        back_to: str,
        doing: str,
        done: str,
        kind: str,
    ) -> ApplicationError:
        """The last step of a failed operation: back to a defined state that says why.
        Returns the error for the workflow to raise."""
        reason = failure_reason(err)
        await self.finish(back_to, error=f"{doing} failed: {reason}", error_type=kind)
        return ApplicationError(
            f"VM {ctx.name} could not be {done}: {reason}", type=kind, non_retryable=True
        )

    async def best_effort_undefine(self, host: str, name: str) -> str | None:
        """Compensation on a host that may be dead: failure is reported, not raised."""
        return await _best_effort(
            f"undefine on {host}",
            self.on_host(
                UNDEFINE_VM,
                host,
                ComputeVmInput(name=name, force=True),
                timeout=timedelta(seconds=60),
                retry=BEST_EFFORT_RETRY,
            ),
        )

    async def best_effort_delete_volume(self, pool: str, volume: str) -> str | None:
        return await _best_effort(
            f"delete volume {volume} on {pool}",
            self.on_pool(
                DELETE_VOLUME,
                pool,
                volume,
                timeout=timedelta(seconds=120),
                retry=BEST_EFFORT_RETRY,
            ),
        )


async def _best_effort(what: str, call: Awaitable[Any]) -> str | None:
    try:
        await call
        return None
    except FailureError as err:
        return f"could not {what}: {failure_reason(err)}"


class AlreadyFinished(Exception):
    """This operation's first step found it finished already: the VM holds its outcome."""

    def __init__(self, ctx: VmContext) -> None:
        super().__init__(f"operation already finished on VM {ctx.name}")
        self.ctx = ctx

    def outcome(self) -> VmResult:
        """The finished operation's result, or its failure raised again."""
        ctx = self.ctx
        if ctx.last_error_type:
            raise ApplicationError(
                ctx.last_error or ctx.last_error_type, type=ctx.last_error_type, non_retryable=True
            )
        return VmResult(
            vm_id=ctx.vm_id, state=ctx.state, host_id=ctx.host_id, host_name=ctx.host_name
        )
