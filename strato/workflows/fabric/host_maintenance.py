"""HostMaintenance: every VM moved off a host being prepared for maintenance, each as
its own ``vm.migrate`` operation; then Maintenance, or ErrorInMaintenance naming what
blocks (see :mod:`strato.domain.fabric.maintenance`). Its progress says how many have
moved; a kill of any process at any point resumes where it was (each step is
idempotent, the migrations are operations of their own)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric.ha import HA_AWAIT, HaAwaitInput, HaAwaitResult
    from strato.domain.fabric.maintenance import (
        HOST_MAINTENANCE,
        MAINTENANCE_DONE,
        MAINTENANCE_MIGRATE,
        MAINTENANCE_VMS,
        MaintenanceDoneInput,
        MaintenanceInput,
        MaintenanceMoveInput,
        MaintenanceResult,
    )
    from strato.domain.progress import StepProgress
    from strato.workflows.common import calls
    from strato.workflows.common.progress import Steps
    from strato.workflows.fabric.host_ha import DATA_RETRY, DATA_TIMEOUT


@workflow.defn(name=HOST_MAINTENANCE.name)
class HostMaintenanceWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("list VMs", "move VMs", "maintenance")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        self.steps.enter("list VMs")
        on_host = await calls.local(MAINTENANCE_VMS, inp, timeout=DATA_TIMEOUT, retry=DATA_RETRY)
        names = on_host.vms
        self.steps.enter("move VMs", f"0 of {len(names)} moved")
        started = await workflow.execute_activity(
            MAINTENANCE_MIGRATE.name,
            MaintenanceMoveInput(
                host_id=inp.host_id,
                operation_id=inp.operation_id,
                vm_ids=[UUID(v) for v in sorted(names)],
            ),
            result_type=MAINTENANCE_MIGRATE.result,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=DATA_RETRY,
        )
        blocked = {names[v]: why for v, why in started.refused.items()}
        moved: list[str] = []
        for vm_id, workflow_id in sorted(started.operations.items()):
            ended: HaAwaitResult = await workflow.execute_activity(
                HA_AWAIT.name,
                HaAwaitInput(operations={vm_id: workflow_id}),
                result_type=HaAwaitResult,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=DATA_RETRY,
            )
            if vm_id in ended.failed:
                blocked[names[vm_id]] = ended.failed[vm_id]
            else:
                moved.append(names[vm_id])
            done = len(moved) + len(blocked)
            self.steps.enter("move VMs", f"{len(moved)} of {len(names)} moved ({done} ended)")
        self.steps.enter("maintenance")
        state = await calls.local(
            MAINTENANCE_DONE,
            MaintenanceDoneInput(
                host_id=inp.host_id, operation_id=inp.operation_id, blocked=blocked
            ),
            timeout=DATA_TIMEOUT,
            retry=DATA_RETRY,
        )
        if state == "ErrorInMaintenance":
            why = "; ".join(f"{n}: {w}" for n, w in sorted(blocked.items()))
            raise ApplicationError(
                f"host {inp.host_name} is ErrorInMaintenance: VMs could not move off it: {why}",
                type="maintenance-blocked",
                non_retryable=True,
            )
        self.steps.finish(f"{inp.host_name} is {state}")
        return MaintenanceResult(
            host_id=inp.host_id, resource_state=state, moved=sorted(moved), blocked=blocked
        )
