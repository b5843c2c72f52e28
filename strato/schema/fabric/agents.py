"""What compute agents write, through the orchestrator: registration, heartbeats, and the
VM sync that reconciles the database with what a hypervisor reports (CloudStack's VM
sync). The hypervisor is the truth about power state; the database about everything else.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, InvalidInput, NameTaken, NotFound
from strato.domain.fabric.payloads import (
    HostHeartbeatInput,
    HostHeartbeatResult,
    PoolRef,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.states import HostStatus
from strato.schema import events
from strato.schema.compute import stats, vms
from strato.schema.fabric import ha, hosts
from strato.schema.fabric.vm_sync import report_unknown, sync_vms

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


async def _pools_of(conn: Any, host_ids: list[UUID]) -> dict[UUID, list[PoolRef]]:
    """The file pools each host's agent serves: its cluster's and its zone's."""
    rows = await conn.fetch(
        """SELECT h.id AS host_id, p.name, p.driver, p.url FROM storage_pools p
           JOIN hosts h ON h.id = ANY($1::uuid[]) JOIN clusters c ON c.id = h.cluster_id
           WHERE p.driver <> 'simulator' AND p.state <> 'Disabled'
             AND (p.cluster_id = c.id OR (p.scope = 'zone' AND p.zone_id = c.zone_id))
           ORDER BY p.name""",
        host_ids,
    )
    out: dict[UUID, list[PoolRef]] = {h: [] for h in host_ids}
    for p in rows:
        out[p["host_id"]].append(PoolRef(name=p["name"], driver=p["driver"], url=p["url"]))
    return out


async def _pools(conn: Any, host_id: UUID) -> list[PoolRef]:
    return (await _pools_of(conn, [host_id]))[host_id]


def _moved_from(row: Any, monitor_id: str | None) -> str:
    """The monitor that watched the host until now, if another than ``monitor_id``."""
    before = row["monitor_id"]
    return before if monitor_id and before and before != monitor_id else ""


async def heartbeat(
    conn: Any, inp: HostHeartbeatInput, monitor_id: str | None = None
) -> HostHeartbeatResult:
    """Record that the host's agent is alive (``monitor_id``: the monitor that records
    it watches the host from now on); bring the host Up if it was not; reconcile its VM
    report (``sync_vms``) and report unknown domains not reported yet. A heartbeat from
    an agent that no longer owns the host is ignored (not accepted)."""
    row = await conn.fetchrow(
        "SELECT name, status, agent_id, monitor_id FROM hosts WHERE id = $1 FOR NO KEY UPDATE",
        inp.host_id,
    )
    if row is None or row["status"] == HostStatus.REMOVED:
        return HostHeartbeatResult(gone=True, accepted=False)
    if row["agent_id"] not in (None, inp.heartbeat.agent_id):
        return HostHeartbeatResult(accepted=False, status=row["status"])
    await conn.execute(
        """UPDATE hosts SET last_heartbeat_at = clock_timestamp(),
                            monitor_id = coalesce($2, monitor_id) WHERE id = $1""",
        inp.host_id,
        monitor_id,
    )
    moved_from = _moved_from(row, monitor_id)
    status = HostStatus(row["status"])
    if status == HostStatus.DOWN and not inp.heartbeat.stopping:
        # Back from an outage: the fenced VMs' domains go before the host is Up (some
        # run elsewhere now). Until its report shows none, nothing else is reconciled.
        fence = await ha.fenced_domains(conn, inp.host_id, inp.heartbeat.vms)
        if fence:
            return HostHeartbeatResult(
                status=status,
                fence=fence,
                watermark=await vms.watermark(conn),
                moved_from=moved_from,
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
        moved_from=moved_from,
        stale_routers=await ha.stale_routers(conn, inp.host_id),
    )


async def quiet_heartbeats(
    conn: Any, monitor_id: str, beats: list[HostHeartbeatInput]
) -> dict[UUID, HostHeartbeatResult]:
    """The heartbeats that change nothing but the time a host was last heard from,
    recorded together: an Up host of the same agent, not stopping, with no VM in its
    report, none recorded on it, no counters and no stale router to remove (what
    :func:`heartbeat` would do for it,
    in a few statements for the whole batch). The others are left to :func:`heartbeat`."""
    ids = sorted(b.host_id for b in beats)
    rows = {
        r["id"]: r
        for r in await conn.fetch(
            """SELECT h.id, h.status, h.agent_id, h.monitor_id,
                      EXISTS (SELECT 1 FROM vms v WHERE v.host_id = h.id)
                      OR EXISTS (SELECT 1 FROM router_fences f WHERE f.host_id = h.id) AS busy
               FROM hosts h WHERE h.id = ANY($1::uuid[]) ORDER BY h.id
               FOR NO KEY UPDATE OF h""",
            ids,
        )
    }
    quiet = {}
    for b in beats:
        row, hb = rows.get(b.host_id), b.heartbeat
        if (
            row is not None
            and row["status"] == HostStatus.UP
            and row["agent_id"] in (None, hb.agent_id)
            and not (hb.stopping or hb.vms or hb.stats or row["busy"])
        ):
            quiet[b.host_id] = row
    if not quiet:
        return {}
    await conn.execute(
        """UPDATE hosts SET last_heartbeat_at = clock_timestamp(), monitor_id = $2
           WHERE id = ANY($1::uuid[])""",
        list(quiet),
        monitor_id,
    )
    watermark = await vms.watermark(conn)
    pools = await _pools_of(conn, list(quiet))
    return {
        host_id: HostHeartbeatResult(
            status=HostStatus.UP,
            watermark=watermark,
            pools=pools[host_id],
            moved_from=_moved_from(row, monitor_id),
        )
        for host_id, row in quiet.items()
    }


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
