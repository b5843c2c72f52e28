"""Names derived from resources: workflow ids and task queues (ARCHITECTURE §4)."""

from __future__ import annotations

from uuid import UUID

ORCHESTRATION_QUEUE = "orchestration"


def workflow_id(kind: str, verb: str, resource_id: UUID, operation_id: UUID | None = None) -> str:
    """``<kind>-<verb>:<resource id>:<operation id>``: one operation, one execution.

    The operation id makes every operation's run its own: a request can only ever join a
    run of the same operation (its idempotent retry), never another operation's run on
    the same resource. Without ``operation_id`` the id names a per-resource singleton,
    used only by the destroy's delayed-expunge timer (``vm-expunge:<vm id>``), which
    RecoverVm finds by that name.
    """
    base = f"{kind}-{verb}:{resource_id}"
    return f"{base}:{operation_id}" if operation_id is not None else base


def compute_queue(host_name: str) -> str:
    return f"compute@{host_name}"


def storage_queue(pool_name: str) -> str:
    return f"storage@{pool_name}"


def network_queue(host_name: str) -> str:
    return f"network@{host_name}"


# Host-bound queues are ``<subsystem>@<host>``; a host served on a shared queue (many
# simulated hosts, one worker) has its steps on ``<subsystem>+<agent queue>`` instead,
# the host named in each activity's id (``<host>#<n>``).
HOST_SUBSYSTEMS = ("compute", "network")


def host_of_queue(queue: str) -> tuple[str, str] | None:
    """``compute@h1`` -> ``("compute", "h1")``; None for any other queue."""
    subsystem, at, host = queue.partition("@")
    return (subsystem, host) if at and subsystem in HOST_SUBSYSTEMS and host else None


def shared_queue(subsystem: str, agent_queue: str) -> str:
    return f"{subsystem}+{agent_queue}"


def routed_activity_id(host_name: str, n: int) -> str:
    return f"{host_name}#{n}"


def host_of_activity(activity_id: str) -> str | None:
    """The host a routed activity is for (None: not a routed activity's id)."""
    host, sep, _n = activity_id.rpartition("#")
    return host if sep and host else None
