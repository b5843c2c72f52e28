"""ScaleVm: change the service offering; live when the host's driver can, else Stopped."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute import flows
    from strato.domain.compute.payloads import (
        ComputeVmInput,
        ScaleClaimInput,
        ScaleVmInput,
        VmResult,
    )
    from strato.domain.compute.steps import HOST_CAPABILITIES, SCALE_VM, VM_SCALE_CLAIM
    from strato.domain.fabric.payloads import ConnectHostInput
    from strato.domain.progress import StepProgress
    from strato.workflows.common.failures import error_type
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps


@workflow.defn(name=flows.SCALE_VM.name)
class ScaleVmWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("validate", "claim capacity", "apply on host", "done")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: ScaleVmInput) -> VmResult:
        ops = VmOps(inp.vm_id, inp.operation_id)
        return await ops.guard(self._run(inp, ops))

    async def _run(self, inp: ScaleVmInput, ops: VmOps) -> VmResult:
        self.steps.enter("validate")
        ctx = await ops.begin("")  # Stopped or Running: the state does not change
        live = ctx.state == "Running"
        try:
            if live:
                assert ctx.host_name is not None
                caps = await ops.on_host(
                    HOST_CAPABILITIES,
                    ctx.host_name,
                    ConnectHostInput(host_id=ctx.host_id, host_name=ctx.host_name),
                )
                if not caps.get("live_scale"):
                    raise ApplicationError(
                        f"host {ctx.host_name} cannot scale a running VM; stop it first",
                        type="not-supported",
                        non_retryable=True,
                    )
            self.steps.enter("claim capacity")
            new = await ops.local(
                VM_SCALE_CLAIM,
                ScaleClaimInput(
                    **ops.ref.model_dump(), service_offering_id=inp.service_offering_id, live=live
                ),
            )
            if live:
                assert ctx.host_name is not None
                self.steps.enter("apply on host", ctx.host_name)
                try:
                    await ops.on_host(
                        SCALE_VM,
                        ctx.host_name,
                        ComputeVmInput(
                            name=ctx.hypervisor_name,
                            cpu_count=new.cpu_count,
                            memory_mb=new.memory_mb,
                        ),
                    )
                except FailureError:
                    # Compensation: the claim and the offering go back to what they were.
                    assert ctx.service_offering_id is not None
                    await ops.local(
                        VM_SCALE_CLAIM,
                        ScaleClaimInput(
                            **ops.ref.model_dump(),
                            service_offering_id=ctx.service_offering_id,
                            live=True,
                        ),
                    )
                    raise
        except FailureError as err:
            raise await ops.abandon(
                ctx, err, back_to=ctx.state, doing="scale", done="scaled", kind=error_type(err)
            ) from err
        await ops.finish(ctx.state)
        self.steps.finish(f"{new.cpu_count} vCPU, {new.memory_mb} MiB")
        return VmResult(
            vm_id=inp.vm_id, state=ctx.state, host_id=ctx.host_id, host_name=ctx.host_name
        )
