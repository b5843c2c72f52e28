"""A bare workflow of N no-op activities: the engine's own cost, for side-by-side ratios."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop(x: int) -> int:
    return x


@workflow.defn(name="BenchBare")
class BareWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for i in range(steps):
            await workflow.execute_activity(
                "bench.noop", i, start_to_close_timeout=timedelta(seconds=10)
            )
        return steps


@workflow.defn(name="BenchBareDeploy")
class BareDeployWorkflow:
    """The same shape as DeployVm: 6 local + 3 regular no-op activities, in its order."""

    @workflow.run
    async def run(self, queue: str) -> int:
        t = timedelta(seconds=30)
        for i in range(3):  # begin, allocate network, plan + claim
            await workflow.execute_local_activity("bench.noop", i, start_to_close_timeout=t)
        await workflow.execute_local_activity("bench.noop", 3, start_to_close_timeout=t)
        await workflow.execute_activity(
            "bench.noop", 4, task_queue=queue, start_to_close_timeout=t
        )  # create volume
        await workflow.execute_local_activity("bench.noop", 5, start_to_close_timeout=t)
        for i in (6, 7):  # define, start
            await workflow.execute_activity(
                "bench.noop", i, task_queue=queue, start_to_close_timeout=t
            )
        await workflow.execute_local_activity("bench.noop", 8, start_to_close_timeout=t)
        return 9
