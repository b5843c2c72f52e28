"""RegisterHost: an agent announces the host it serves; the host row is created or updated.

The agent runs this before it polls ``compute@<host>``, so an agent whose host name
another agent holds is refused before it can take any of that host's tasks. The host
becomes Up with the agent's first heartbeat (see HostMonitor).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric import flows
    from strato.domain.fabric.payloads import RegisterHostInput, RegisterHostResult
    from strato.domain.fabric.steps import HOST_REGISTER
    from strato.workflows.common import calls


@workflow.defn(name=flows.REGISTER_HOST.name)
class RegisterHostWorkflow:
    @workflow.run
    async def run(self, inp: RegisterHostInput) -> RegisterHostResult:
        result: RegisterHostResult = await calls.local(
            HOST_REGISTER,
            inp,
            timeout=timedelta(seconds=30),
            retry=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10),
        )
        return result
