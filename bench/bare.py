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
    """The same shape as DeployVm (strato/workflows/compute/deploy_vm.py + boot.py):
    3 local and 2 regular no-op activities, in its order."""

    @workflow.run
    async def run(self, queue: str) -> int:
        t = timedelta(seconds=30)

        async def local(i: int) -> None:
            await workflow.execute_local_activity("bench.noop", i, start_to_close_timeout=t)

        async def on_host(i: int) -> None:
            await workflow.execute_activity(
                "bench.noop", i, task_queue=queue, start_to_close_timeout=t
            )

        await local(0)  # begin
        await local(1)  # place: NICs, host claim, pool claim
        await on_host(2)  # create the root volume (the pool's queue)
        await on_host(3)  # define and start, one host step
        await local(4)  # finish: volume Ready, Running, lock released
        return 5
