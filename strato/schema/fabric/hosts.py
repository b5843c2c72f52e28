"""Host-specific writes: guarded status transitions, connection facts, heartbeats."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import NotFound
from strato.domain.fabric.models import Host
from strato.domain.fabric.payloads import HostFacts, HostTransitionResult
from strato.domain.states import HOST_STATUS, HostStatus
from strato.domain.storage.models import StoragePool
from strato.schema import transitions
from strato.schema.tables import HOSTS, STORAGE_POOLS


async def transition(
    conn: Any,
    host_id: UUID,
    target: HostStatus,
    *,
    reason: str | None = None,
    operation_id: UUID | None = None,
) -> HostTransitionResult:
    """Move the host to ``target`` if the state machine allows it from its current status.

    Idempotent: a host already at ``target`` is left alone and reported unchanged.
    Raises IllegalTransition when the current status forbids the move.
    """
    row = await conn.fetchrow("SELECT status FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id)
    if row is None:
        raise NotFound(f"host {host_id} does not exist", id=str(host_id))
    current = HostStatus(row["status"])
    if current == target and not HOST_STATUS.can(current, target):
        return HostTransitionResult(
            host_id=host_id, old_status=current, new_status=current, changed=False
        )
    await transitions.transition(
        conn,
        transitions.HOST,
        host_id,
        target,
        operation_id=operation_id,
        reason=reason,
        columns={"last_error": reason},
    )
    return HostTransitionResult(
        host_id=host_id, old_status=current, new_status=target, changed=current != target
    )


async def record_connected(
    conn: Any, host_id: UUID, facts: HostFacts, *, operation_id: UUID | None = None
) -> Host:
    """Store what the host reported and mark it Up (idempotent)."""
    await transition(conn, host_id, HostStatus.UP, operation_id=operation_id)
    row = await conn.fetchrow(
        """UPDATE hosts SET cpu_sockets = $2, cpu_cores = $3, cpu_speed_mhz = $4,
                            memory_total_mb = $5, hypervisor_version = $6, capabilities = $7,
                            last_heartbeat_at = clock_timestamp(), last_error = NULL,
                            version = version + 1, updated_at = clock_timestamp()
           WHERE id = $1 RETURNING *""",
        host_id,
        facts.cpu_sockets,
        facts.cpu_cores,
        facts.cpu_speed_mhz,
        facts.memory_total_mb,
        facts.hypervisor_version,
        facts.capabilities,
    )
    return HOSTS.to_model(row)


async def agent_queue(conn: Any, host_name: str) -> str | None:
    queue: str | None = await conn.fetchval(
        "SELECT agent_queue FROM hosts WHERE name = $1 AND status <> 'Removed'", host_name
    )
    return queue


async def list_by_hypervisor(conn: Any, hypervisor: str) -> list[Host]:
    rows = await conn.fetch(
        "SELECT * FROM hosts WHERE hypervisor = $1 AND status <> 'Removed' ORDER BY name",
        hypervisor,
    )
    return [HOSTS.to_model(r) for r in rows]


async def zones_with_physical_networks(conn: Any) -> set[UUID]:
    rows = await conn.fetch("SELECT DISTINCT zone_id FROM physical_networks")
    return {r["zone_id"] for r in rows}


async def list_pools_by_driver(conn: Any, driver: str) -> list[StoragePool]:
    rows = await conn.fetch("SELECT * FROM storage_pools WHERE driver = $1 ORDER BY name", driver)
    return [STORAGE_POOLS.to_model(r) for r in rows]
