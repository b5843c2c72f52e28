"""RecurringSnapshot: one firing of a snapshot policy's Temporal Schedule. It takes the
snapshot through the snapshot command (an operation of its own, under the volume's lock,
listed with the user's), waits for it, then deletes the policy's oldest snapshots beyond
``max_snaps``. A busy or unready volume skips the firing, saying why."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress
    from strato.domain.storage import flows
    from strato.domain.storage.payloads import PolicyFireInput, PolicyRef, PolicyRunResult
    from strato.domain.storage.steps import POLICY_FIRE, POLICY_PRUNE, POLICY_WAIT
    from strato.workflows.common import calls
    from strato.workflows.common.progress import Steps

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=flows.RECURRING_SNAPSHOT.name)
class RecurringSnapshotWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("snapshot", "wait", "prune", "done")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, ref: PolicyRef) -> PolicyRunResult:
        queue = workflow.info().task_queue
        self.steps.enter("snapshot")
        fired = await calls.remote(
            POLICY_FIRE,
            PolicyFireInput(policy_id=ref.policy_id, firing=workflow.info().workflow_id),
            queue=queue,
            timeout=timedelta(minutes=2),
            retry=RETRY,
        )
        if fired.skipped is not None or fired.workflow_id is None:
            self.steps.finish(f"skipped: {fired.skipped}")
            return PolicyRunResult(policy_id=ref.policy_id, snapshot=f"skipped: {fired.skipped}")
        self.steps.enter("wait", fired.workflow_id)
        outcome = await calls.remote(
            POLICY_WAIT,
            fired.workflow_id,
            queue=queue,
            timeout=timedelta(hours=2),
            heartbeat=timedelta(seconds=30),
            retry=RETRY,
        )
        self.steps.enter("prune")
        pruned = await calls.remote(
            POLICY_PRUNE, ref, queue=queue, timeout=timedelta(hours=2), retry=RETRY
        )
        self.steps.finish(f"snapshot {outcome}, {pruned} pruned")
        return PolicyRunResult(policy_id=ref.policy_id, snapshot=outcome, pruned=pruned)
