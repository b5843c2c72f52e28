"""The network subsystem's audit SQL for `strato doctor`: addresses and NICs, and their
fixes (each locks, re-checks, and returns whether it acted)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.network.specs import router_digest
from strato.schema.network import ipam, plans

# -- reads ----------------------------------------------------------------------------


async def network_devices(conn: Any, up: set[str]) -> list[dict[str, Any]]:
    """What each implemented network should have on the hosts that are Up: its router
    (host and digest, if it has one) and its ports (MACs by host)."""
    ids = await conn.fetch("SELECT id FROM networks WHERE state = 'Implemented' ORDER BY name")
    out = []
    for r in ids:
        net = await plans.lock(conn, r["id"], read_only=True)
        if net["segment"] is None and net["router_host_id"] is None:
            continue  # a network no agent implements (no physical network)
        job = await plans.router_spec(conn, net)
        rows = await conn.fetch(
            """SELECT h.name AS host, n.mac FROM nics n JOIN hosts h ON h.id = n.host_id
               WHERE n.network_id = $1""",
            r["id"],
        )
        ports: dict[str, list[str]] = {h: [] for h in await plans.port_host_names(conn, net)}
        for p in rows:
            ports.setdefault(p["host"], []).append(p["mac"])
        out.append(
            {
                "id": r["id"],
                "name": net["name"],
                "key": net["name_key"],
                "router_host": job.host if job else None,
                "digest": router_digest(job.spec) if job else None,
                "ports": {h: sorted(m) for h, m in ports.items() if h in up},
            }
        )
    return out


async def leaked_addresses(conn: Any) -> list[Any]:
    """Addresses held for no VM, for an expunged VM, or through a NIC the VM lacks."""
    rows: list[Any] = await conn.fetch(
        """SELECT a.id, host(a.address) AS ip, a.state, a.vm_id, v.name, v.state AS vm_state
           FROM ip_addresses a LEFT JOIN vms v ON v.id = a.vm_id
           LEFT JOIN nics n ON n.id = a.nic_id
           WHERE a.state <> 'Free' AND (v.id IS NULL OR v.current_operation_id IS NULL)
             AND (v.id IS NULL OR v.state = 'Expunged' OR n.id IS NULL
                  OR n.vm_id <> a.vm_id)
           ORDER BY a.address"""
    )
    return rows


async def expunged_with_nics(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT DISTINCT v.id, v.name FROM nics n JOIN vms v ON v.id = n.vm_id
           WHERE v.state = 'Expunged' AND v.current_operation_id IS NULL"""
    )
    return rows


async def unrecorded_nic_addresses(conn: Any) -> list[Any]:
    """NICs whose address the pool does not record as theirs (``holder``: who has it)."""
    rows: list[Any] = await conn.fetch(
        """SELECT n.id, n.vm_id, v.name, host(n.ip_address) AS ip, n.network_id,
                  other.vm_id AS holder
           FROM nics n JOIN vms v ON v.id = n.vm_id
           LEFT JOIN ip_addresses a ON a.nic_id = n.id AND a.address = n.ip_address
           LEFT JOIN ip_addresses other
                  ON other.network_id = n.network_id AND other.address = n.ip_address
                 AND other.state <> 'Free'
           WHERE n.ip_address IS NOT NULL AND a.id IS NULL
             AND v.current_operation_id IS NULL AND v.state <> 'Expunged'"""
    )
    return rows


# -- fixes ----------------------------------------------------------------------------


async def _vm_lock(conn: Any, vm_id: UUID) -> Any:
    """The VM's state and lock holder, its row locked until the fix commits (None: gone)."""
    return await conn.fetchrow(
        "SELECT state, current_operation_id FROM vms WHERE id = $1 FOR UPDATE", vm_id
    )


async def free_address(conn: Any, *, address_id: UUID, vm_id: UUID | None) -> bool:
    if vm_id is not None:
        row = await _vm_lock(conn, vm_id)
        if row is not None and row["current_operation_id"] is not None:
            return False
    status: str = await conn.execute(
        """UPDATE ip_addresses SET state = 'Free', vm_id = NULL, nic_id = NULL,
                                   allocated_at = NULL, version = version + 1,
                                   updated_at = clock_timestamp()
           WHERE id = $1 AND state <> 'Free' AND vm_id IS NOT DISTINCT FROM $2""",
        address_id,
        vm_id,
    )
    return status.endswith(" 1")


async def release_nics(conn: Any, *, vm_id: UUID) -> bool:
    row = await _vm_lock(conn, vm_id)
    if row is None or row["state"] != "Expunged" or row["current_operation_id"] is not None:
        return False
    await ipam.release_nics(conn, vm_id)
    return True


async def allocate_address(
    conn: Any, *, nic_id: UUID, vm_id: UUID, network_id: UUID, ip: str
) -> bool:
    row = await _vm_lock(conn, vm_id)
    if row is None or row["current_operation_id"] is not None:
        return False
    status: str = await conn.execute(
        """UPDATE ip_addresses SET state = 'Allocated', vm_id = $2, nic_id = $3,
                                   allocated_at = clock_timestamp(), version = version + 1,
                                   updated_at = clock_timestamp()
           WHERE network_id = $1 AND address = $4::inet AND state = 'Free'""",
        network_id,
        vm_id,
        nic_id,
        ip,
    )
    return status.endswith(" 1")
