"""RecurringBackup: one firing of a backup schedule's Temporal Schedule. It backs the VM
up through the backup command (an operation of its own, listed with the user's) and
waits for it; a VM that cannot be backed up then skips the firing, saying why."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.backups import ScheduleFireInput, ScheduleRef
    from strato.domain.storage.steps import BACKUP_FIRE, POLICY_WAIT
    from strato.workflows.common import calls
    from strato.workflows.common.progress import Steps

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=flows.RECURRING_BACKUP.name)
class RecurringBackupWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("backup", "wait", "done")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, ref: ScheduleRef) -> str:
        queue = workflow.info().task_queue
        self.steps.enter("backup")
        fired = await calls.remote(
            BACKUP_FIRE,
            ScheduleFireInput(schedule_id=ref.schedule_id, firing=workflow.info().workflow_id),
            queue=queue,
            timeout=timedelta(minutes=2),
            retry=RETRY,
        )
        if fired.skipped is not None or fired.workflow_id is None:
            self.steps.finish(f"skipped: {fired.skipped}")
            return f"skipped: {fired.skipped}"
        self.steps.enter("wait", fired.workflow_id)
        outcome = await calls.remote(
            POLICY_WAIT,
            fired.workflow_id,
            queue=queue,
            timeout=timedelta(hours=6),
            heartbeat=timedelta(seconds=30),
            retry=RETRY,
        )
        self.steps.finish(f"backup {outcome}")
        return outcome
