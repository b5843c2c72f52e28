"""What compute agents write, through the orchestrator: registration, heartbeats, and the
VM sync that reconciles the database with what a hypervisor reports (CloudStack's VM
sync). The hypervisor is the truth about power state; the database about everything else.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.errors import Conflict, InvalidInput, NameTaken, NotFound
from strato.domain.fabric.payloads import (
    HostHeartbeatInput,
    HostHeartbeatResult,
    PoolRef,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.states import VM_OBSERVED, HostStatus, VmState
from strato.schema import events
from strato.schema.compute import capacity, stats, vms
from strato.schema.fabric import ha, hosts
from strato.schema.transitions import VM, transition

# A host in these states is brought Up by its agent's next heartbeat.
_REVIVABLE = (HostStatus.CONNECTING, HostStatus.DISCONNECTED, HostStatus.ALERT, HostStatus.DOWN)


async def _cluster(conn: Any, inp: RegisterHostInput) -> Any:
    rows = await conn.fetch(
        """SELECT c.id, c.zone_id, c.pod_id, c.hypervisor, p.name AS pod_name
           FROM clusters c JOIN zones z ON z.id = c.zone_id JOIN pods p ON p.id = c.pod_id
           WHERE z.name = $1 AND c.name = $2 AND ($3::text IS NULL OR p.name = $3)
           ORDER BY p.name""",
        inp.zone_name,
        inp.cluster_name,
        inp.pod_name,
    )
    if not rows:
        where = f"zone {inp.zone_name}" + (f", pod {inp.pod_name}" if inp.pod_name else "")
        raise NotFound(f"no cluster named {inp.cluster_name} in {where}")
    if len(rows) > 1:
        pods = ", ".join(r["pod_name"] for r in rows)
        raise InvalidInput(
            f"cluster {inp.cluster_name} exists in pods {pods} of zone {inp.zone_name}: "
            "name the pod (--pod)"
        )
    if rows[0]["hypervisor"] != "kvm":
        raise InvalidInput(
            f"cluster {inp.cluster_name} is a {rows[0]['hypervisor']} cluster; "
            "a libvirt agent joins kvm clusters"
        )
    return rows[0]


async def register(conn: Any, inp: RegisterHostInput) -> RegisterHostResult:
    """Create or update the host an agent serves. Idempotent for the same agent.

    Refused (and nothing written) if the name belongs to another agent or another kind
    of host, or the cluster is wrong: a host is never half-registered.
    """
    cluster = await _cluster(conn, inp)
    row = await conn.fetchrow(
        "SELECT * FROM hosts WHERE name = $1 FOR NO KEY UPDATE", inp.host_name
    )
    f = inp.facts
    created = row is None
    if row is None:
        host_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO hosts (id, zone_id, pod_id, cluster_id, name, hypervisor, url,
                                  status, cpu_sockets, cpu_cores, cpu_speed_mhz,
                                  memory_total_mb, hypervisor_version, capabilities, agent_id,
                                  agent_endpoint)
               VALUES ($1, $2, $3, $4, $5, 'kvm', $6, 'Connecting', $7, $8, $9, $10, $11,
                       $12, $13, $14)""",
            host_id,
            cluster["zone_id"],
            cluster["pod_id"],
            cluster["id"],
            inp.host_name,
            inp.url,
            f.cpu_sockets,
            f.cpu_cores,
            f.cpu_speed_mhz,
            f.memory_total_mb,
            f.hypervisor_version,
            f.capabilities,
            inp.agent_id,
            inp.agent_endpoint,
        )
        await events.append(
            conn,
            "strato.host.registered",
            "host",
            host_id,
            new_state=HostStatus.CONNECTING,
            payload={"agent_id": str(inp.agent_id), "url": inp.url},
        )
        status = HostStatus.CONNECTING
    else:
        host_id = row["id"]
        if row["hypervisor"] != "kvm":
            raise NameTaken(
                f"host name {inp.host_name} is taken by a {row['hypervisor']} host; "
                "choose another --host"
            )
        if row["agent_id"] not in (None, inp.agent_id):
            seen = row["last_heartbeat_at"]
            raise NameTaken(
                f"host name {inp.host_name} is registered by another agent ({row['agent_id']}, "
                f"last heartbeat {seen.isoformat() if seen else 'never'}); stop that agent "
                "and remove the host, or choose another --host",
                agent_id=str(row["agent_id"]),
            )
        if row["cluster_id"] != cluster["id"]:
            raise Conflict(
                f"host {inp.host_name} belongs to another cluster; remove it before "
                "registering it elsewhere"
            )
        await conn.execute(
            """UPDATE hosts SET url = $2, cpu_sockets = $3, cpu_cores = $4, cpu_speed_mhz = $5,
                                memory_total_mb = $6, hypervisor_version = $7,
                                capabilities = $8, agent_id = $9, agent_endpoint = $10,
                                version = version + 1, updated_at = clock_timestamp()
               WHERE id = $1""",
            host_id,
            inp.url,
            f.cpu_sockets,
            f.cpu_cores,
            f.cpu_speed_mhz,
            f.memory_total_mb,
            f.hypervisor_version,
            f.capabilities,
            inp.agent_id,
            inp.agent_endpoint,
        )
        status = HostStatus(row["status"])
        if status in (HostStatus.CREATING, HostStatus.ERROR):
            status = HostStatus(
                (await hosts.transition(conn, host_id, HostStatus.CONNECTING)).new_status
            )
    return RegisterHostResult(
        host_id=host_id, created=created, status=status, pools=await _pools(conn, host_id)
    )


async def _pools(conn: Any, host_id: UUID) -> list[PoolRef]:
    """The file pools the host's agent serves: its cluster's and its zone's."""
    rows = await conn.fetch(
        """SELECT p.name, p.driver, p.url FROM storage_pools p
           JOIN hosts h ON h.id = $1 JOIN clusters c ON c.id = h.cluster_id
           WHERE p.driver <> 'simulator' AND p.state <> 'Disabled'
             AND (p.cluster_id = c.id OR (p.scope = 'zone' AND p.zone_id = c.zone_id))
           ORDER BY p.name""",
        host_id,
    )
    return [PoolRef(name=p["name"], driver=p["driver"], url=p["url"]) for p in rows]


async def heartbeat(conn: Any, inp: HostHeartbeatInput) -> HostHeartbeatResult:
    """Record that the host's agent is alive; bring the host Up if it was not; reconcile
    its VM report (``sync_vms``) and report unknown domains not reported yet. A heartbeat
    from an agent that no longer owns the host is ignored (not accepted)."""
    row = await conn.fetchrow(
        "SELECT name, status, agent_id FROM hosts WHERE id = $1 FOR NO KEY UPDATE", inp.host_id
    )
    if row is None or row["status"] == HostStatus.REMOVED:
        return HostHeartbeatResult(gone=True, accepted=False)
    if row["agent_id"] not in (None, inp.heartbeat.agent_id):
        return HostHeartbeatResult(accepted=False, status=row["status"])
    await conn.execute(
        "UPDATE hosts SET last_heartbeat_at = clock_timestamp() WHERE id = $1", inp.host_id
    )
    status = HostStatus(row["status"])
    if status == HostStatus.DOWN and not inp.heartbeat.stopping:
        # Back from an outage: the fenced VMs' domains go before the host is Up (some
        # run elsewhere now). Until its report shows none, nothing else is reconciled.
        fence = await ha.fenced_domains(conn, inp.host_id, inp.heartbeat.vms)
        if fence:
            return HostHeartbeatResult(
                status=status, fence=fence, watermark=await vms.watermark(conn)
            )
        await ha.clear_fences(conn, inp.host_id)
    if inp.heartbeat.stopping and status == HostStatus.UP:
        moved = await hosts.transition(
            conn, inp.host_id, HostStatus.DISCONNECTED, reason="the agent stopped"
        )
        status = HostStatus(moved.new_status)
    elif not inp.heartbeat.stopping and status in _REVIVABLE:
        status = HostStatus((await hosts.transition(conn, inp.host_id, HostStatus.UP)).new_status)
    name = row["name"]
    corrected, unknown = await sync_vms(
        conn, inp.host_id, name, inp.heartbeat.vms, inp.heartbeat.watermark
    )
    report_id = inp.heartbeat.sent_at.isoformat()
    await report_unknown(conn, inp.host_id, name, unknown, set(inp.reported_unknown), report_id)
    await stats.record(conn, inp.host_id, inp.heartbeat.stats)
    return HostHeartbeatResult(
        status=status,
        corrected=corrected,
        unknown=sorted(unknown),
        watermark=await vms.watermark(conn),
        pools=await _pools(conn, inp.host_id),
    )


async def heartbeat_lost(conn: Any, host_id: UUID, silent_s: float) -> str | None:
    """No heartbeat for ``silent_s``: an Up host becomes Disconnected (planners skip it).
    Returns the new status, or None if the host is gone."""
    row = await conn.fetchrow("SELECT status FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id)
    if row is None or row["status"] == HostStatus.REMOVED:
        return None
    if row["status"] != HostStatus.UP:
        return str(row["status"])
    result = await hosts.transition(
        conn,
        host_id,
        HostStatus.DISCONNECTED,
        reason=f"no heartbeat from its agent for {silent_s:.0f}s",
    )
    return str(result.new_status)


def _vm_id(v: VmPowerInfo) -> UUID | None:
    try:
        return UUID(v.uuid)
    except ValueError:
        return None


async def sync_vms(
    conn: Any, host_id: UUID, host_name: str, report: list[VmPowerInfo], watermark: int | None
) -> tuple[list[str], dict[str, str]]:
    """Reconcile one host's VM report with the database, in one transaction.

    ``watermark`` is a number the database issued before the report was taken
    (:func:`strato.schema.compute.vms.watermark`); None (an agent's first report) corrects
    nothing. Corrects the power state of VMs that no operation holds and whose row did not
    change after the watermark (so a report older than an operation's result cannot undo
    it, whatever the agent's clock says):
    a VM recorded Running whose domain is off or gone becomes Stopped (its capacity is
    released); a VM recorded Stopped whose domain runs here becomes Running on this host
    (its capacity claimed). Returns the corrected VM names and the unknown domains (name
    -> why). Each correction writes a ``strato.vm.drift`` event.
    """
    seen = {vid: v for v in report if v.managed and (vid := _vm_id(v)) is not None}
    corrected: list[str] = []
    rows = await conn.fetch(
        """SELECT * FROM vms WHERE host_id = $1 OR id = ANY($2::uuid[])
           ORDER BY id FOR UPDATE""",
        host_id,
        list(seen),
    )
    by_id = {r["id"]: r for r in rows}
    settled: set[UUID] = set()  # rows whose domain here is accounted for
    for row in rows:
        vid, state = row["id"], VmState(row["state"])
        if (
            watermark is None
            or row["current_operation_id"] is not None
            or row["change_seq"] > watermark
        ):
            settled.add(vid)  # an operation owns it, or it may have changed after the report
            continue
        power = seen[vid].power if vid in seen else PowerState.MISSING
        here = row["host_id"] == host_id
        if here:
            settled.add(vid)
        if here and state == VmState.RUNNING and power in (PowerState.STOPPED, PowerState.MISSING):
            await capacity.release_host(conn, vid)
            await correct(conn, row, VmState.STOPPED, power, host_name, host_id=None)
            corrected.append(row["name"])
        elif (
            state == VmState.STOPPED
            and power == PowerState.RUNNING
            and (here or row["host_id"] is None)
        ):
            ask = await capacity.placement_ask(conn, vid)
            await capacity.force_claim(conn, vid, host_id, ask["cpu"], ask["memory_mb"])
            await correct(conn, row, VmState.RUNNING, power, host_name, host_id=host_id)
            corrected.append(row["name"])
            settled.add(vid)
    unknown: dict[str, str] = {}
    for v in report:
        vid = _vm_id(v)
        row = by_id.get(vid) if vid is not None else None
        if not v.managed:
            unknown[v.name] = "a domain without Strato metadata"
        elif row is None:
            unknown[v.name] = "no VM in the database has this domain's uuid"
        elif row["id"] in settled:
            continue
        elif row["state"] in (VmState.EXPUNGED, VmState.DESTROYED, VmState.ERROR):
            unknown[v.name] = f"VM {row['name']} is {row['state']}, yet its domain is defined"
        elif v.power != PowerState.STOPPED:
            unknown[v.name] = (
                f"VM {row['name']} is recorded {row['state']} on another host, "
                f"yet its domain is {v.power} here"
            )
    return corrected, unknown


async def correct(
    conn: Any,
    row: Any,
    target: VmState,
    power: PowerState,
    host_name: str,
    *,
    host_id: UUID | None,
) -> None:
    await transition(
        conn,
        VM,
        row["id"],
        target,
        machine=VM_OBSERVED,
        event="strato.vm.drift",
        locked=row,
        columns={
            "host_id": host_id,
            "last_host_id": host_id if host_id is not None else row["last_host_id"],
            "console": row["console"] if target == VmState.RUNNING else None,
        },
        payload={
            "host": host_name,
            "recorded": row["state"],
            "observed": str(power),
            "corrected_to": str(target),
            "detail": (
                f"the hypervisor on {host_name} reports the domain {power} "
                f"while the database had the VM {row['state']}"
            ),
        },
    )


async def report_unknown(
    conn: Any,
    host_id: UUID,
    host_name: str,
    unknown: dict[str, str],
    already: set[str],
    report_id: str,
) -> None:
    """One ``strato.host.unknown_vm`` event per unknown domain, the first time it is seen.

    ``report_id`` names the heartbeat: a retry of the same heartbeat (its first attempt
    committed, the result was lost) finds its own events and writes none again.
    """
    fresh = sorted(n for n in unknown if n not in already)
    if not fresh:
        return
    written = {
        r["domain"]
        for r in await conn.fetch(
            """SELECT payload->>'domain' AS domain FROM events
               WHERE type = 'strato.host.unknown_vm' AND resource_id = $1
                 AND payload->>'report' = $2""",
            host_id,
            report_id,
        )
    }
    for name in fresh:
        if name in written:
            continue
        await events.append(
            conn,
            "strato.host.unknown_vm",
            "host",
            host_id,
            payload={
                "host": host_name,
                "domain": name,
                "reason": unknown[name],
                "report": report_id,
            },
        )
