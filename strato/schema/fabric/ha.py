"""Host investigation and HA in the database: an outage begun, a verdict recorded, a Down
host's VMs fenced, the fences its returning agent clears (see
:mod:`strato.domain.fabric.ha`). Every step is guarded by the outage it is about, so a
retried or late step of an outage that ended changes nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric.ha import (
    DeclareDownResult,
    HaFailedInput,
    HaFailedResult,
    HostSilentResult,
    HostVerdictInput,
    Investigation,
)
from strato.domain.network.specs import RouterFence
from strato.domain.states import VM_HA_FAILED, HostStatus, VmState
from strato.schema import events
from strato.schema.compute import capacity
from strato.schema.fabric import alerts, hosts
from strato.schema.transitions import VM, transition

# An outage's investigation has a say while the host is in one of these.
_UNRESOLVED = (HostStatus.ALERT, HostStatus.DISCONNECTED)


async def _host(conn: Any, host_id: UUID) -> Any:
    return await conn.fetchrow(
        "SELECT id, name, status, outage, cluster_id, agent_endpoint, monitor_id FROM hosts "
        "WHERE id = $1 FOR NO KEY UPDATE",
        host_id,
    )


async def silent(
    conn: Any, host_id: UUID, silent_s: float, monitor_id: str | None = None
) -> HostSilentResult:
    """No heartbeat for ``silent_s``: an Up host goes to Alert and a new outage begins.
    A host its agent stopped cleanly (Disconnected) stays as it is: an operator's
    stop is not an outage. ``monitor_id``: the monitor that noticed; a host another
    monitor watches now (its agent beats there) is not its to act on."""
    row = await _host(conn, host_id)
    if row is None or row["status"] == HostStatus.REMOVED:
        return HostSilentResult(gone=True)
    if monitor_id and row["monitor_id"] and row["monitor_id"] != monitor_id:
        return HostSilentResult(status=row["status"], elsewhere=True)
    if row["status"] != HostStatus.UP:
        return HostSilentResult(status=row["status"])
    outage = row["outage"] + 1
    await conn.execute("UPDATE hosts SET outage = $2 WHERE id = $1", host_id, outage)
    await hosts.transition(
        conn,
        host_id,
        HostStatus.ALERT,
        reason=f"no heartbeat from its agent for {silent_s:.0f}s; investigating",
    )
    return HostSilentResult(status=HostStatus.ALERT, outage=outage)


async def investigation(conn: Any, host_id: UUID, outage: int) -> Investigation:
    """Where the host stands for this outage, and the Up hosts of its cluster that can
    probe it (most recently heard from first)."""
    row = await conn.fetchrow(
        "SELECT status, outage, cluster_id, agent_endpoint FROM hosts WHERE id = $1", host_id
    )
    if row is None:
        return Investigation(status=HostStatus.REMOVED, current=False)
    current = row["outage"] == outage and row["status"] in _UNRESOLVED
    neighbours = await conn.fetch(
        """SELECT name FROM hosts
           WHERE cluster_id = $1 AND id <> $2 AND status = 'Up'
           ORDER BY last_heartbeat_at DESC NULLS LAST, name LIMIT 3""",
        row["cluster_id"],
        host_id,
    )
    return Investigation(
        status=row["status"],
        current=current,
        endpoint=row["agent_endpoint"],
        neighbours=[n["name"] for n in neighbours],
    )


async def _investigated(conn: Any, v: HostVerdictInput) -> None:
    await events.append(
        conn,
        "strato.host.investigated",
        "host",
        v.host_id,
        payload={
            "outage": v.outage,
            "prober": v.prober,
            "reachable": v.reachable,
            "detail": v.detail,
        },
    )


async def alive(conn: Any, v: HostVerdictInput) -> str:
    """The host's agent answered a probe: it is alive, its heartbeats are lost on the
    way (a partition between it and Temporal). The host is Disconnected, never Down:
    its VMs may run, so none is started elsewhere. Returns the host's status."""
    row = await _host(conn, v.host_id)
    if row is None:
        return HostStatus.REMOVED
    if row["outage"] != v.outage or row["status"] not in _UNRESOLVED:
        return str(row["status"])
    if row["status"] == HostStatus.DISCONNECTED:
        return str(row["status"])  # said already: a long partition is probed quietly
    await _investigated(conn, v)
    moved = await hosts.transition(
        conn,
        v.host_id,
        HostStatus.DISCONNECTED,
        reason=f"its agent answers {v.prober} but its heartbeats do not arrive",
    )
    return str(moved.new_status)


async def declare_down(conn: Any, v: HostVerdictInput) -> DeclareDownResult:
    """The host's agent did not answer: the host is Down and its VMs are fenced. Each
    VM no operation holds is recorded in ``vm_fences`` (its returning agent destroys
    the domain), its capacity there released, and it is Stopped; HA ones are returned to
    be started elsewhere. A VM an operation holds is left to that operation."""
    row = await _host(conn, v.host_id)
    if row is None:
        return DeclareDownResult(declared=False, status=HostStatus.REMOVED)
    if row["outage"] != v.outage or row["status"] not in _UNRESOLVED:
        return DeclareDownResult(declared=False, status=row["status"])
    await _investigated(conn, v)
    await hosts.transition(
        conn,
        v.host_id,
        HostStatus.DOWN,
        reason=f"its agent did not answer {v.prober}: {v.detail}",
    )
    vms = await conn.fetch(
        """SELECT v.*, o.ha FROM vms v JOIN service_offerings o ON o.id = v.service_offering_id
           WHERE v.host_id = $1 ORDER BY v.id FOR NO KEY UPDATE OF v""",
        v.host_id,
    )
    result = DeclareDownResult(declared=True, status=HostStatus.DOWN)
    for vm in vms:
        if vm["current_operation_id"] is not None:
            continue
        await conn.execute(
            """INSERT INTO vm_fences (host_id, vm_id, outage) VALUES ($1, $2, $3)
               ON CONFLICT (host_id, vm_id) DO UPDATE SET outage = EXCLUDED.outage""",
            v.host_id,
            vm["id"],
            v.outage,
        )
        await capacity.release_host(conn, vm["id"])
        await transition(
            conn,
            VM,
            vm["id"],
            VmState.STOPPED,
            locked=vm,
            reason=f"its host {row['name']} is Down",
            columns={"host_id": None, "last_host_id": v.host_id, "console": None},
        )
        await events.append(
            conn,
            "strato.vm.fenced",
            "vm",
            vm["id"],
            payload={"host": row["name"], "outage": v.outage, "ha": vm["ha"]},
        )
        if vm["ha"]:
            result.ha_vms.append(vm["id"])
        else:
            result.stopped.append(vm["name"])
    # Its ports went with it (a fenced VM's NICs are plugged nowhere), and so did the
    # routers it ran: the next boot on each network, or its restart, puts one elsewhere.
    fenced = [vm["id"] for vm in vms if vm["current_operation_id"] is None]
    await conn.execute(
        "UPDATE nics SET host_id = NULL WHERE vm_id = ANY($1::uuid[]) AND host_id = $2",
        fenced,
        v.host_id,
    )
    # Locked in id order first, as every plan locks networks (no deadlock with a boot).
    routed = await conn.fetch(
        "SELECT id, generation FROM networks WHERE router_host_id = $1 ORDER BY id FOR UPDATE",
        v.host_id,
    )
    result.networks = [r["id"] for r in routed]
    await conn.execute(
        """UPDATE networks SET router_host_id = NULL, version = version + 1,
                  updated_at = clock_timestamp()
           WHERE id = ANY($1::uuid[])""",
        result.networks,
    )
    await conn.execute(
        """INSERT INTO router_fences (host_id, network_id, outage, generation)
           SELECT $1, f.id, $3, f.generation
           FROM unnest($2::uuid[], $4::bigint[]) AS f (id, generation)
           ON CONFLICT (host_id, network_id)
           DO UPDATE SET outage = EXCLUDED.outage, generation = EXCLUDED.generation""",
        v.host_id,
        result.networks,
        v.outage,
        [r["generation"] for r in routed],
    )
    return result


async def stale_routers(conn: Any, host_id: UUID) -> list[RouterFence]:
    """The routers the host must remove (it ran them when it went Down; they run
    elsewhere now), each unless one newer than its fence's generation runs there (a VM
    booting there took the router back). A network whose router is this host's again
    is not one of them (its fence is lifted here)."""
    await conn.execute(
        """DELETE FROM router_fences f USING networks n
           WHERE f.host_id = $1 AND n.id = f.network_id AND n.router_host_id = $1""",
        host_id,
    )
    rows = await conn.fetch(
        """SELECT f.network_id::text AS key, f.generation FROM router_fences f
           WHERE f.host_id = $1 ORDER BY key""",
        host_id,
    )
    # A network's key on its hosts is its id.
    return [RouterFence(network=r["key"], generation=r["generation"]) for r in rows]


async def routers_removed(conn: Any, host_id: UUID, networks: list[str]) -> int:
    """The host's agent removed these stale routers: their fences are lifted."""
    rows = await conn.fetch(
        """DELETE FROM router_fences
           WHERE host_id = $1 AND network_id::text = ANY($2::text[]) RETURNING network_id""",
        host_id,
        networks,
    )
    return len(rows)


async def ha_failed(conn: Any, inp: HaFailedInput) -> HaFailedResult:
    """HA VMs that could not be started elsewhere: each is Error with the reason, and
    an alert says so. A VM someone has acted on since (no longer Stopped) is left."""
    names: dict[str, str] = {}
    for vm_id, why in sorted(inp.failed.items()):
        vm = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR NO KEY UPDATE", UUID(vm_id))
        if vm is None or vm["state"] != VmState.STOPPED or vm["current_operation_id"]:
            continue
        reason = f"HA could not start it after its host {inp.host_name} went Down: {why}"
        await transition(
            conn, VM, vm["id"], VmState.ERROR, locked=vm, reason=reason, machine=VM_HA_FAILED
        )
        await alerts.raise_alert(
            conn, "ha-failed", "vm", vm["id"], vm["name"], reason, host=inp.host_name
        )
        names[vm["name"]] = why
    return HaFailedResult(names=names)


async def fenced_domains(conn: Any, host_id: UUID, report: list[VmPowerInfo]) -> list[str]:
    """The domains in a Down host's report that it must destroy: those of its fenced VMs
    (defined, running or not)."""
    fenced = {
        str(r["vm_id"])
        for r in await conn.fetch("SELECT vm_id FROM vm_fences WHERE host_id = $1", host_id)
    }
    return sorted(v.name for v in report if v.uuid in fenced and v.power != PowerState.MISSING)


async def clear_fences(conn: Any, host_id: UUID) -> None:
    """The returning agent's report shows no fenced domain: its fences are lifted (the
    host is about to be Up), with an event naming what it destroyed."""
    rows = await conn.fetch("DELETE FROM vm_fences WHERE host_id = $1 RETURNING outage", host_id)
    if rows:
        await events.append(
            conn,
            "strato.host.fences_cleared",
            "host",
            host_id,
            payload={"outage": max(r["outage"] for r in rows), "vms": len(rows)},
        )
