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
