"""A host's maintenance in the database: its resource state moved (with its event), the
VMs still on it (see :mod:`strato.domain.fabric.maintenance`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, NotFound
from strato.domain.states import ResourceState
from strato.schema import events

_IN_MAINTENANCE = (
    ResourceState.PREPARE_FOR_MAINTENANCE,
    ResourceState.MAINTENANCE,
    ResourceState.ERROR_IN_MAINTENANCE,
)


async def set_resource_state(
    conn: Any, host_id: UUID, target: ResourceState, reason: str | None = None
) -> str:
    """Write the host's resource state and its event (none when unchanged); its old one."""
    row = await conn.fetchrow(
        "SELECT resource_state FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id
    )
    if row is None:
        raise NotFound(f"host {host_id} does not exist", id=str(host_id))
    old = str(row["resource_state"])
    if old == target:
        return old
    await conn.execute(
        """UPDATE hosts SET resource_state = $2, last_error = $3, version = version + 1,
                            updated_at = clock_timestamp() WHERE id = $1""",
        host_id,
        target.value,
        reason,
    )
    await events.append(
        conn,
        "strato.host.resource_state_changed",
        "host",
        host_id,
        old_state=old,
        new_state=target.value,
        payload={"reason": reason} if reason else {},
    )
    return old


async def prepare(conn: Any, host_id: UUID) -> Any:
    """PrepareForMaintenance, refused (nothing written) if the host is in maintenance
    already or a VM on it is held by an operation (named: retry once they end)."""
    host = await conn.fetchrow("SELECT * FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id)
    if host is None:
        raise NotFound(f"host {host_id} does not exist", id=str(host_id))
    if host["resource_state"] in _IN_MAINTENANCE:
        raise Conflict(
            f"host {host['name']} is {host['resource_state']} already",
            resource_state=host["resource_state"],
        )
    busy = await conn.fetch(
        """SELECT name, current_operation_kind FROM vms
           WHERE host_id = $1 AND current_operation_id IS NOT NULL ORDER BY name""",
        host_id,
    )
    if busy:
        names = ", ".join(f"{b['name']} ({b['current_operation_kind']})" for b in busy)
        raise Conflict(
            f"VMs on host {host['name']} are busy: {names}; retry when their operations end",
            vms=[b["name"] for b in busy],
        )
    await set_resource_state(conn, host_id, ResourceState.PREPARE_FOR_MAINTENANCE)
    return host


async def cancel(conn: Any, host_id: UUID) -> None:
    """Back to Enabled from any maintenance state (a running prepare ends without
    setting Maintenance). Refused for a host not in maintenance."""
    row = await conn.fetchrow(
        "SELECT name, resource_state FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id
    )
    if row is None:
        raise NotFound(f"host {host_id} does not exist", id=str(host_id))
    if row["resource_state"] not in _IN_MAINTENANCE:
        raise Conflict(
            f"host {row['name']} is not in maintenance ({row['resource_state']})",
            resource_state=row["resource_state"],
        )
    await set_resource_state(conn, host_id, ResourceState.ENABLED)


async def running_vms(conn: Any, host_id: UUID) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, name FROM vms WHERE host_id = $1 ORDER BY name", host_id)
    return {str(r["id"]): r["name"] for r in rows}


async def done(conn: Any, host_id: UUID, blocked: dict[str, str]) -> str:
    """Maintenance if nothing is left on the host, else ErrorInMaintenance saying what
    blocks; a prepare cancelled meanwhile is left as the operator set it."""
    row = await conn.fetchrow(
        "SELECT resource_state FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id
    )
    if row is None:
        return "Removed"
    if row["resource_state"] != ResourceState.PREPARE_FOR_MAINTENANCE:
        return str(row["resource_state"])
    left = await running_vms(conn, host_id)
    for name in left.values():
        blocked.setdefault(name, "still on the host")
    if blocked:
        why = "; ".join(f"{n}: {w}" for n, w in sorted(blocked.items()))
        await set_resource_state(
            conn, host_id, ResourceState.ERROR_IN_MAINTENANCE, f"VMs could not move: {why}"
        )
        return ResourceState.ERROR_IN_MAINTENANCE.value
    await set_resource_state(conn, host_id, ResourceState.MAINTENANCE)
    return ResourceState.MAINTENANCE.value
