"""Operations on a whole guest network, read from and written to the database: apply its
router, restart it (optionally from nothing), shut it down, destroy it. The plan of each
is built by :func:`plan` (its devices, at a new generation) and the database finishes it
in :func:`done` once the hosts did their part."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict
from strato.domain.network.payloads import (
    HostNetworks,
    NetworkOpInput,
    NetworkResult,
    PortsPlan,
    UserDataJob,
)
from strato.schema import events
from strato.schema.network import physical, port_security
from strato.schema.network.guest_data import user_data
from strato.schema.network.plans import (
    bump,
    has_router,
    host_names,
    lock,
    network_specs,
    port_hosts,
    router_spec,
    spec_of,
)


async def plugged(conn: Any, network_id: UUID) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM nics WHERE network_id = $1 AND host_id IS NOT NULL", network_id
    )
    return n


async def nic_count(conn: Any, network_id: UUID) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM nics WHERE network_id = $1", network_id)
    return n


async def mark_destroy(conn: Any, network_id: UUID) -> None:
    await conn.execute(
        """UPDATE networks SET state = 'Destroy', version = version + 1,
                  updated_at = clock_timestamp() WHERE id = $1""",
        network_id,
    )


async def idle(conn: Any, idle_s: float) -> list[UUID]:
    """Implemented networks (on hosts) with no plugged port for ``idle_s``."""
    rows = await conn.fetch(
        """SELECT id FROM networks WHERE state = 'Implemented' AND idle_since IS NOT NULL
             AND idle_since < clock_timestamp() - make_interval(secs => $1)
             AND (segment IS NOT NULL OR router_host_id IS NOT NULL)
           ORDER BY idle_since""",
        idle_s,
    )
    return [r["id"] for r in rows]


async def _rehome_router(conn: Any, net: dict[str, Any]) -> None:
    """A router whose host is gone (removed, or Down) goes to an Up host the network has
    ports on."""
    if not has_router(net) or net["router_host_id"] is not None:
        return
    host = await conn.fetchval(
        """SELECT n.host_id FROM nics n JOIN hosts h ON h.id = n.host_id
           WHERE n.network_id = $1 AND h.status = 'Up' ORDER BY h.name LIMIT 1""",
        net["id"],
    )
    if host is not None:
        await conn.execute("UPDATE networks SET router_host_id = $2 WHERE id = $1", net["id"], host)
        net["router_host_id"] = host


async def plan(conn: Any, inp: NetworkOpInput) -> PortsPlan:
    """The devices of the operation ``inp.mode`` on the network, at a new generation. A
    network not implemented has none (its rules are applied when its first VM boots)."""
    net = await lock(conn, inp.network_id)
    if inp.mode == "destroy":
        if net["segment"] is None and net["router_host_id"] is None:
            return PortsPlan()  # nothing of it on any host (never implemented, or shut down)
    elif net["state"] != "Implemented":
        return PortsPlan()
    if inp.mode == "shutdown":
        running = await plugged(conn, net["id"])
        if running:
            raise Conflict(f"network {net['name']} has {running} plugged NIC(s): stop its VMs")
    await bump(conn, net)
    if inp.mode == "restart":
        await _rehome_router(conn, net)
    out = PortsPlan(generation=net["generation"])
    job = await router_spec(conn, net)
    if inp.mode in ("apply", "restart") and job is not None:
        out.routers.append(job)
    if inp.mode == "restart":
        if inp.cleanup and job is not None:
            out.destroy_routers.append(job)
        if job is not None and job.spec.metadata:
            out.user_data.append(UserDataJob(host=job.host, data=await user_data(conn, net)))
        specs = await network_specs(conn, net)
        out.peers.extend(HostNetworks(host=h, networks=[s]) for h, s in specs.items())
        plugs, prunes = await port_security.network_ports(conn, net, sorted(specs))
        out.resecure.extend(plugs)
        out.prune.extend(prunes)
    if inp.mode in ("shutdown", "destroy"):
        if job is not None:
            out.destroy_routers.append(job)
        names = await host_names(conn, await port_hosts(conn, net))
        out.shutdown.extend(
            HostNetworks(host=n, networks=[spec_of(net, [])]) for n, _ in names.values()
        )
    return out


async def done(conn: Any, inp: NetworkOpInput) -> NetworkResult:
    """The database's part once the hosts did theirs: events; a shut-down network keeps
    its source-NAT address but gives its segment back; a destroyed one gives everything
    back and its rows go. Idempotent."""
    row = await conn.fetchrow("SELECT * FROM networks WHERE id = $1 FOR UPDATE", inp.network_id)
    if row is None:  # destroyed already (a retry)
        return NetworkResult(network_id=inp.network_id, state="Destroyed")
    payload = {"name": row["name"], "segment": row["segment"], "generation": row["generation"]}
    if inp.mode in ("apply", "restart"):
        if row["state"] == "Implemented":
            await events.append(
                conn,
                "strato.network.applied",
                "network",
                row["id"],
                payload=payload,
                operation_id=inp.operation_id,
            )
        return NetworkResult(network_id=row["id"], state=row["state"], generation=row["generation"])
    if inp.mode == "shutdown":
        if row["state"] != "Implemented" or await plugged(conn, row["id"]):
            return NetworkResult(network_id=row["id"], state=row["state"])
        await physical.release_segment(conn, row["id"])
        await conn.execute(
            """UPDATE networks SET state = 'Shutdown', segment = NULL, router_host_id = NULL,
                      idle_since = NULL,
                      version = version + 1, updated_at = clock_timestamp() WHERE id = $1""",
            row["id"],
        )
        await events.append(
            conn,
            "strato.network.shutdown",
            "network",
            row["id"],
            old_state="Implemented",
            new_state="Shutdown",
            payload=payload,
            operation_id=inp.operation_id,
        )
        return NetworkResult(network_id=row["id"], state="Shutdown")
    await destroy_rows(conn, row["id"])
    await events.append(
        conn,
        "strato.network.destroyed",
        "network",
        row["id"],
        old_state=row["state"],
        new_state="Destroyed",
        payload=payload,
        operation_id=inp.operation_id,
    )
    return NetworkResult(network_id=row["id"], state="Destroyed")


async def destroy_rows(conn: Any, network_id: UUID) -> None:
    """Everything of a network without NICs given back and its rows deleted: its public
    addresses (their rules first), its segment, its address pool."""
    ips = await conn.fetch("SELECT id FROM public_ips WHERE network_id = $1 FOR UPDATE", network_id)
    ids = [r["id"] for r in ips]
    await conn.execute("DELETE FROM port_forwarding_rules WHERE network_id = $1", network_id)
    await conn.execute("DELETE FROM firewall_rules WHERE public_ip_id = ANY($1::uuid[])", ids)
    await conn.execute(
        """UPDATE public_ips SET state = 'Free', owner = NULL, network_id = NULL,
                  source_nat = false, static_nat_vm_id = NULL, static_nat_ip = NULL,
                  allocated_at = NULL, version = version + 1, updated_at = clock_timestamp()
           WHERE id = ANY($1::uuid[])""",
        ids,
    )
    await physical.release_segment(conn, network_id)
    await conn.execute("DELETE FROM ip_addresses WHERE network_id = $1", network_id)
    await conn.execute("DELETE FROM networks WHERE id = $1", network_id)
