"""Which queue a host-bound step goes to: the host's own (``compute@<host>``), or the
shared queue its agent serves it on (``compute+<agent queue>``, a simulator fleet's),
with the host named in the activity's id (``<host>#<n>``).

A run asks the database once per host (a local step, so replays see the same answer)
and keeps the answer for the rest of the run. A step on a shared queue that no worker
took in time makes the run ask again next time: the host may have moved to its own
queue (or back).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as StepTimeout

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric.steps import HOST_ROUTE
    from strato.domain.ids import host_of_queue, routed_activity_id, shared_queue
    from strato.workflows.common.policies import LOCAL_RETRY, LOCAL_TIMEOUT

# Runs since this patch ask where each host is served; runs of before used the host's
# own queues only.
ROUTES_PATCH = "host-queue-routes"
_STATE = "_strato_host_routes"


@dataclass
class _Routes:
    agent_queues: dict[str, str | None] = field(default_factory=dict)
    issued: int = 0


@dataclass(frozen=True)
class Route:
    queue: str
    activity_id: str | None = None  # set on a shared queue: names the host
    host: str | None = None


def _routes() -> _Routes:
    """This run's answers, kept on the workflow instance (each run has its own)."""
    instance = workflow.instance()
    routes = getattr(instance, _STATE, None)
    if not isinstance(routes, _Routes):
        routes = _Routes()
        setattr(instance, _STATE, routes)
    return routes


async def route(queue: str, retry: RetryPolicy = LOCAL_RETRY) -> Route:
    """Where a step for ``queue`` goes in this run."""
    bound = host_of_queue(queue)
    if bound is None:
        return Route(queue)
    subsystem, host = bound
    routes = _routes()
    if host not in routes.agent_queues:
        if not workflow.patched(ROUTES_PATCH):
            return Route(queue)
        routes.agent_queues[host] = await workflow.execute_local_activity(
            HOST_ROUTE.name,
            host,
            result_type=HOST_ROUTE.result,
            start_to_close_timeout=LOCAL_TIMEOUT,
            retry_policy=retry,
        )
    agent_queue = routes.agent_queues[host]
    if agent_queue is None:
        return Route(queue, host=host)
    routes.issued += 1
    return Route(
        shared_queue(subsystem, agent_queue), routed_activity_id(host, routes.issued), host
    )


# A shared queue's refusals that mean "not served here (now)".
_NOT_HERE = ("AgentUnavailable", "UnroutedStep")


def failed(where: Route, err: ActivityError) -> None:
    """A step that no worker took in time, or that the shared queue's worker refused as
    not its host's: forget where its host is served, so the run's next step there asks
    again (the host may have moved queues)."""
    cause = err.cause
    not_taken = isinstance(cause, StepTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START
    refused = isinstance(cause, ApplicationError) and cause.type in _NOT_HERE
    if where.host is not None and (not_taken or refused):
        _routes().agent_queues.pop(where.host, None)
