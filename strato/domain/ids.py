"""Names derived from resources: workflow ids and task queues (ARCHITECTURE §4)."""

from __future__ import annotations

from uuid import UUID

ORCHESTRATION_QUEUE = "orchestration"


def workflow_id(kind: str, verb: str, resource_id: UUID) -> str:
    """``<kind>-<verb>:<uuid>``: the operation's idempotency key in Temporal."""
    return f"{kind}-{verb}:{resource_id}"


def compute_queue(host_name: str) -> str:
    return f"compute@{host_name}"


def storage_queue(pool_name: str) -> str:
    return f"storage@{pool_name}"


def network_queue(host_name: str) -> str:
    return f"network@{host_name}"


class Activities:
    """Activity names: workflows call activities by these names only (no I/O imports)."""

    HOST_TRANSITION = "records.host_transition"
    HOST_CONNECTED = "records.host_connected"
    CONNECT_HOST = "compute.connect_host"


class Workflows:
    ADD_HOST = "AddHost"
