"""MigrateVm: a running VM moved to another host of its cluster (CloudStack's
migrateVirtualMachine; see :mod:`strato.domain.compute.migration`).

Live: the source's agent migrates the domain to the target while it runs (a VM with
NICs on managed networks moves cold: its ports are plugged per host). Cold: its
definition read back from the source, stopped and undefined there, its NICs plugged on
the target, defined and started there with the same definition. A failed cold move
starts it back on its source; the target's claim is released either way.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.migration import (
        MIGRATE_ON_HOST,
        MIGRATE_VM,
        VM_MIGRATION_CLAIM,
        VM_MIGRATION_DONE,
        VM_SPEC,
        MigrateOnHostInput,
        MigrateVmInput,
        MigrationClaimInput,
        MigrationDoneInput,
        MigrationPlan,
    )
    from strato.domain.compute.payloads import ComputeVmInput, VmContext, VmResult
    from strato.domain.compute.specs import ConsoleInfo, VmSpec
    from strato.domain.compute.steps import DEFINE_AND_START_VM
    from strato.domain.progress import StepProgress
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=MIGRATE_VM.name)
class MigrateVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "claim target", "move", "running")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: MigrateVmInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id, reach_s=inp.host_reach_s)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: MigrateVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("Migrating", only_from=("Running",))
        self.steps.enter("claim target")
        live = False if ctx.managed_nics else inp.live
        try:
            plan = await ops.local(
                VM_MIGRATION_CLAIM,
                MigrationClaimInput(**ops.ref.model_dump(), host_id=inp.host_id, live=live),
            )
        except FailureError as err:
            raise await ops.abandon(
                ctx,
                err,
                back_to="Running",
                doing="claiming a target host",
                done="migrated",
                kind=error_type(err),
            ) from None
        move = f"{plan.source_host_name} -> {plan.target_host_name}"
        self.steps.enter("move", f"{'live' if plan.live else 'cold'}: {move}")
        if plan.live:
            await self._live(ops, ctx, plan)
            console = None
        else:
            console = await self._cold(ops, ctx, plan)
        self.steps.enter("running")
        await ops.local(
            VM_MIGRATION_DONE,
            MigrationDoneInput(**ops.ref.model_dump(), plan=plan, moved=True, console=console),
        )
        ops.finished = True
        self.steps.finish(f"running on {plan.target_host_name}")
        return VmResult(
            vm_id=ctx.vm_id,
            state="Running",
            host_id=plan.target_host_id,
            host_name=plan.target_host_name,
        )

    async def _live(self, ops: VmOps, ctx: VmContext, plan: MigrationPlan) -> None:
        try:
            await ops.on_host(
                MIGRATE_ON_HOST,
                plan.source_host_name,
                MigrateOnHostInput(
                    name=ctx.hypervisor_name,
                    target_host=plan.target_host_name,
                    target_url=plan.target_url,
                ),
                timeout=timedelta(minutes=30),
            )
        except FailureError as err:
            # The hypervisor did not move it: it runs where it ran.
            raise await self._back(ops, ctx, plan, err, console=None, stopped=False) from None

    async def _cold(self, ops: VmOps, ctx: VmContext, plan: MigrationPlan) -> ConsoleInfo | None:
        arg = ComputeVmInput(name=ctx.hypervisor_name)
        try:
            spec = await ops.on_host(VM_SPEC, plan.source_host_name, arg)
            await ops.stop_on_host(ctx, force=False, timeout_s=60.0)
        except FailureError as err:
            raise await self._back(ops, ctx, plan, err, console=None, stopped=False) from None
        try:
            return await self._boot_on(ops, ctx, spec, plan.target_host_id, plan.target_host_name)
        except FailureError as err:
            await ops.best_effort_undefine(plan.target_host_name, ctx.hypervisor_name)
            await ops.unplug_nics(ctx)
            failed = err
        # Back on its source, with the definition it had there.
        try:
            console = await self._boot_on(
                ops, ctx, spec, plan.source_host_id, plan.source_host_name
            )
        except FailureError as again:
            note = (
                f"{failure_reason(failed)}; starting it back on its host: {failure_reason(again)}"
            )
            raise await self._back(
                ops, ctx, plan, failed, console=None, stopped=True, note=note
            ) from None
        raise await self._back(ops, ctx, plan, failed, console=console, stopped=False) from None

    async def _boot_on(
        self, ops: VmOps, ctx: VmContext, spec: VmSpec, host_id: UUID, host: str
    ) -> ConsoleInfo | None:
        nics = await ops.plug_nics(host_id, await ops.nics())
        devices = {n.mac: n.device for n in nics}
        spec = spec.model_copy(
            update={
                "nics": [
                    n.model_copy(update={"device": devices.get(n.mac) or n.device})
                    for n in spec.nics
                ]
            }
        )
        return await ops.on_host(DEFINE_AND_START_VM, host, spec, timeout=timedelta(seconds=300))

    async def _back(
        self,
        ops: VmOps,
        ctx: VmContext,
        plan: MigrationPlan,
        err: BaseException,
        *,
        console: ConsoleInfo | None,
        stopped: bool,
        note: str | None = None,
    ) -> ApplicationError:
        reason = note or failure_reason(err)
        where = "it is Stopped" if stopped else f"it runs on {plan.source_host_name}"
        await ops.local(
            VM_MIGRATION_DONE,
            MigrationDoneInput(
                **ops.ref.model_dump(),
                plan=plan,
                moved=False,
                stopped=stopped,
                console=console,
                error=f"migration to {plan.target_host_name} failed: {reason}",
            ),
        )
        ops.finished = True
        return ApplicationError(
            f"VM {ctx.name} could not be migrated to {plan.target_host_name}: {reason}; {where}",
            type="migration-failed",
            non_retryable=True,
        )
