"""Capacity: candidate hosts for the planner, and atomic claims on hosts and pools.

A claim is one guarded UPDATE of the host's counters (``used + ask <= capacity``) plus a
claim row keyed by the VM, in one transaction. No read-then-write: two deploys racing for
the last slot cannot both win. Strict affinity rules are checked under an advisory lock
per group, so parallel deploys into one anti-affinity group cannot share a host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from strato.domain.compute.placement import AffinityRule, HostCandidate

CPU_CAPACITY = """
    floor(h.cpu_cores * h.cpu_speed_mhz * c.cpu_overcommit_ratio)::bigint - h.cpu_reserved_mhz
"""
MEM_CAPACITY = "floor(h.memory_total_mb * c.memory_overcommit_ratio)::bigint - h.memory_reserved_mb"


async def placement_ask(conn: Any, vm_id: UUID) -> Any:
    """What the VM asks of a host, and which planner decides (offering's, else zone's)."""
    return await conn.fetchrow(
        """SELECT v.zone_id, v.owner, v.cpu_count * v.cpu_speed_mhz AS cpu,
                  v.memory_mb, o.host_tags, coalesce(o.planner, z.planner) AS planner
           FROM vms v JOIN service_offerings o ON o.id = v.service_offering_id
           JOIN zones z ON z.id = v.zone_id WHERE v.id = $1""",
        vm_id,
    )


@dataclass(frozen=True)
class Shortlist:
    """Ask the database for at most ``limit`` hosts that fit the request, instead of
    every host of the zone (like Nova placement's max_placement_results): with 10,000
    hosts a decision no longer ships 10,000 rows to the planner. The preferred host is
    always included. Hard rules the SQL does not know (strict affinity) are still
    applied by the planner; when the shortlist yields no placement the caller plans
    again over every host, so the result is never worse than without it."""

    cpu_mhz: int
    memory_mb: int
    host_tags: list[str]
    avoid: list[UUID]
    prefer: UUID | None
    limit: int
    random: bool  # a random sample (random planner) instead of the first by name


async def candidates(
    conn: Any,
    zone_id: UUID,
    *,
    owner: str | None = None,
    shortlist: Shortlist | None = None,
    new_vms: bool = True,
) -> list[HostCandidate]:
    """Up and Enabled hosts (in an enabled zone, pod and cluster) of the zone, each with
    its cluster's share of CPU and memory allocated (over the cluster's disable
    threshold, the host is a candidate the planners exclude, saying why; a shortlist
    leaves it out). ``new_vms`` False: for a VM already placed (a migration), a disabled
    zone, pod or cluster does not hold it (disabling stops new VMs only)."""
    allocation = (
        "AND c.state = 'Enabled' AND p.state = 'Enabled' AND z.state = 'Enabled'" if new_vms else ""
    )
    base = f"""WITH used AS (
                 SELECT h.cluster_id,
                        sum(h.cpu_used_mhz)::float8 / nullif(sum({CPU_CAPACITY}), 0) AS cpu,
                        sum(h.memory_used_mb)::float8 / nullif(sum({MEM_CAPACITY}), 0) AS mem
                 FROM hosts h JOIN clusters c ON c.id = h.cluster_id
                 WHERE h.zone_id = $1 AND h.status = 'Up' GROUP BY h.cluster_id)
               SELECT h.id, h.name, h.cluster_id, h.tags, h.cpu_used_mhz, h.memory_used_mb,
                      {CPU_CAPACITY} AS cpu_capacity_mhz, {MEM_CAPACITY} AS memory_capacity_mb,
                      c.name AS cluster_name, coalesce(u.cpu, 0) AS cluster_cpu,
                      coalesce(u.mem, 0) AS cluster_mem, c.cpu_disable_threshold,
                      c.memory_disable_threshold
               FROM hosts h
               JOIN clusters c ON c.id = h.cluster_id
               JOIN pods p ON p.id = h.pod_id
               JOIN zones z ON z.id = h.zone_id
               LEFT JOIN used u ON u.cluster_id = c.id
               WHERE h.zone_id = $1 AND h.status = 'Up' AND h.resource_state = 'Enabled'
                 {allocation}"""
    if shortlist is None:
        rows = await conn.fetch(base, zone_id)
    else:
        sl = shortlist
        rows = await conn.fetch(
            f"""{base}
                  AND (h.id = $7 OR (
                       h.cpu_used_mhz + $2 <= {CPU_CAPACITY}
                       AND h.memory_used_mb + $3 <= {MEM_CAPACITY}
                       AND h.tags @> $4::text[] AND NOT h.id = ANY($5::uuid[])
                       AND coalesce(u.cpu, 0) <= c.cpu_disable_threshold
                       AND coalesce(u.mem, 0) <= c.memory_disable_threshold))
                ORDER BY h.id = $7 DESC, {"random()" if sl.random else "h.name"} LIMIT $6""",
            zone_id,
            sl.cpu_mhz,
            sl.memory_mb,
            sl.host_tags,
            sl.avoid,
            sl.limit,
            sl.prefer,
        )
    per_owner: dict[UUID, int] = {}
    if owner is not None:
        for r in await conn.fetch(
            """SELECT hc.host_id, count(*) AS n FROM host_claims hc
               JOIN vms v ON v.id = hc.vm_id WHERE v.owner = $1 GROUP BY hc.host_id""",
            owner,
        ):
            per_owner[r["host_id"]] = r["n"]
    return [
        HostCandidate(
            id=r["id"],
            name=r["name"],
            cluster_id=r["cluster_id"],
            cpu_capacity_mhz=r["cpu_capacity_mhz"],
            cpu_used_mhz=r["cpu_used_mhz"],
            memory_capacity_mb=r["memory_capacity_mb"],
            memory_used_mb=r["memory_used_mb"],
            tags=list(r["tags"]),
            owner_vms=per_owner.get(r["id"], 0),
            cluster_full=_cluster_full(r),
        )
        for r in rows
    ]


def _cluster_full(r: Any) -> str:
    """Why the host's cluster takes no new VM, or "" (CloudStack's capacity disable
    thresholds: more than the share allowed is allocated already)."""
    for kind, used, limit in (
        ("CPU", r["cluster_cpu"], r["cpu_disable_threshold"]),
        ("memory", r["cluster_mem"], r["memory_disable_threshold"]),
    ):
        if used > limit:
            return (
                f"are in cluster {r['cluster_name']}, {used:.1%} of whose {kind} is allocated"
                f" (it takes no new VM past {limit:.1%})"
            )
    return ""


async def affinity_rules(conn: Any, vm_id: UUID) -> list[AffinityRule]:
    """The VM's groups with the hosts their other members currently hold claims on."""
    rows = await conn.fetch(
        """SELECT g.id, g.name, g.kind, g.strict,
                  coalesce(array_agg(DISTINCT hc.host_id)
                           FILTER (WHERE hc.host_id IS NOT NULL), '{}') AS hosts
           FROM vm_affinity_groups mine
           JOIN affinity_groups g ON g.id = mine.group_id
           LEFT JOIN vm_affinity_groups other
                  ON other.group_id = g.id AND other.vm_id <> $1
           LEFT JOIN host_claims hc ON hc.vm_id = other.vm_id
           WHERE mine.vm_id = $1
           GROUP BY g.id, g.name, g.kind, g.strict""",
        vm_id,
    )
    return [
        AffinityRule(
            group_id=r["id"],
            group_name=r["name"],
            kind=r["kind"],
            strict=r["strict"],
            member_hosts=list(r["hosts"]),
        )
        for r in rows
    ]


async def claim_host(
    conn: Any, vm_id: UUID, host_id: UUID, cpu_mhz: int, memory_mb: int
) -> str | None:
    """Claim capacity for ``vm_id`` on ``host_id``; None on success, else why not.

    Must run in a transaction. Idempotent: an existing claim on the same host succeeds.
    Claims for one VM are serialized on its row, so two overlapping attempts of the same
    step (a retry while the first still runs) cannot both claim.
    """
    await conn.execute("SELECT 1 FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    existing = await conn.fetchval("SELECT host_id FROM host_claims WHERE vm_id = $1", vm_id)
    if existing is not None:
        return None if existing == host_id else "the VM already holds a claim on another host"
    strict = await conn.fetch(
        """SELECT g.id, g.name, g.kind FROM vm_affinity_groups m
           JOIN affinity_groups g ON g.id = m.group_id
           WHERE m.vm_id = $1 AND g.strict ORDER BY g.id""",
        vm_id,
    )
    for g in strict:  # in id order: no deadlock between two multi-group deploys
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('affinity:' || $1::text))", str(g["id"])
        )
    for g in strict:
        hosts = {
            r["host_id"]
            for r in await conn.fetch(
                """SELECT hc.host_id FROM vm_affinity_groups m
                   JOIN host_claims hc ON hc.vm_id = m.vm_id
                   WHERE m.group_id = $1 AND m.vm_id <> $2""",
                g["id"],
                vm_id,
            )
        }
        if g["kind"] == "host-anti-affinity" and host_id in hosts:
            return f"host holds a member of anti-affinity group {g['name']}"
        if g["kind"] == "host-affinity" and hosts and host_id not in hosts:
            return f"host is not the host of affinity group {g['name']}"
    if not await take_room(conn, host_id, cpu_mhz, memory_mb):
        return await _why_no_room(conn, host_id, cpu_mhz, memory_mb)
    await conn.execute(
        "INSERT INTO host_claims (vm_id, host_id, cpu_mhz, memory_mb) VALUES ($1, $2, $3, $4)",
        vm_id,
        host_id,
        cpu_mhz,
        memory_mb,
    )
    return None


async def take_room(conn: Any, host_id: UUID, cpu_mhz: int, memory_mb: int) -> bool:
    """Count ``cpu_mhz`` and ``memory_mb`` as used on the host if it is Up, Enabled and
    has that much room (one guarded update: concurrent takers never overfill it)."""
    taken = await conn.fetchval(
        f"""UPDATE hosts h SET cpu_used_mhz = h.cpu_used_mhz + $2,
                               memory_used_mb = h.memory_used_mb + $3
            FROM clusters c
            WHERE h.id = $1 AND c.id = h.cluster_id
              AND h.status = 'Up' AND h.resource_state = 'Enabled'
              AND h.cpu_used_mhz + $2 <= {CPU_CAPACITY}
              AND h.memory_used_mb + $3 <= {MEM_CAPACITY}
            RETURNING h.id""",
        host_id,
        cpu_mhz,
        memory_mb,
    )
    return taken is not None


async def _why_no_room(conn: Any, host_id: UUID, cpu_mhz: int, memory_mb: int) -> str:
    """Name the resource a failed claim lacked, as of now (another deploy took it)."""
    r = await conn.fetchrow(
        f"""SELECT h.status, h.resource_state, {CPU_CAPACITY} - h.cpu_used_mhz AS cpu_free,
                   {MEM_CAPACITY} - h.memory_used_mb AS mem_free
            FROM hosts h JOIN clusters c ON c.id = h.cluster_id WHERE h.id = $1""",
        host_id,
    )
    if r is None:
        return "host was removed"
    if r["status"] != "Up" or r["resource_state"] != "Enabled":
        return f"host became {r['status']}/{r['resource_state']}"
    if r["mem_free"] < memory_mb:
        return f"lack memory ({memory_mb} MiB asked, {r['mem_free']} MiB free)"
    return f"lack CPU ({cpu_mhz} MHz asked, {r['cpu_free']} MHz free)"


async def current_claim(conn: Any, vm_id: UUID) -> tuple[UUID, str] | None:
    """The host the VM holds a claim on (id, name), if any."""
    row = await conn.fetchrow(
        """SELECT h.id, h.name FROM host_claims c JOIN hosts h ON h.id = c.host_id
           WHERE c.vm_id = $1""",
        vm_id,
    )
    return (row["id"], row["name"]) if row is not None else None


async def release_host(conn: Any, vm_id: UUID) -> UUID | None:
    """Drop the VM's host claim, if any; return the host it was on. Idempotent."""
    row = await conn.fetchrow(
        "DELETE FROM host_claims WHERE vm_id = $1 RETURNING host_id, cpu_mhz, memory_mb", vm_id
    )
    if row is None:
        return None
    await conn.execute(
        """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz - $2, memory_used_mb = memory_used_mb - $3
           WHERE id = $1""",
        row["host_id"],
        row["cpu_mhz"],
        row["memory_mb"],
    )
    host: UUID = row["host_id"]
    return host


async def force_claim(conn: Any, vm_id: UUID, host_id: UUID, cpu_mhz: int, memory_mb: int) -> None:
    """Record that the VM uses capacity on ``host_id`` whether or not it fits: the VM is
    found running there (VM sync), and capacity must say what the host really carries.
    Idempotent; a claim on another host is moved."""
    held = await current_claim(conn, vm_id)
    if held is not None and held[0] == host_id:
        return
    if held is not None:
        await release_host(conn, vm_id)
    await conn.execute(
        """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz + $2, memory_used_mb = memory_used_mb + $3
           WHERE id = $1""",
        host_id,
        cpu_mhz,
        memory_mb,
    )
    await conn.execute(
        "INSERT INTO host_claims (vm_id, host_id, cpu_mhz, memory_mb) VALUES ($1, $2, $3, $4)",
        vm_id,
        host_id,
        cpu_mhz,
        memory_mb,
    )


async def resize_claim(conn: Any, vm_id: UUID, cpu_mhz: int, memory_mb: int) -> str | None:
    """Change an existing claim in place (live scale); None on success, else why not."""
    row = await conn.fetchrow(
        "SELECT host_id, cpu_mhz, memory_mb FROM host_claims WHERE vm_id = $1 FOR UPDATE", vm_id
    )
    if row is None:
        return "the VM holds no claim"
    d_cpu, d_mem = cpu_mhz - row["cpu_mhz"], memory_mb - row["memory_mb"]
    ok = await conn.fetchval(
        f"""UPDATE hosts h SET cpu_used_mhz = h.cpu_used_mhz + $2,
                               memory_used_mb = h.memory_used_mb + $3
            FROM clusters c
            WHERE h.id = $1 AND c.id = h.cluster_id
              AND h.cpu_used_mhz + $2 <= {CPU_CAPACITY}
              AND h.memory_used_mb + $3 <= {MEM_CAPACITY}
            RETURNING h.id""",
        row["host_id"],
        d_cpu,
        d_mem,
    )
    if ok is None:
        return "the host lacks room for the larger offering"
    await conn.execute(
        "UPDATE host_claims SET cpu_mhz = $2, memory_mb = $3 WHERE vm_id = $1",
        vm_id,
        cpu_mhz,
        memory_mb,
    )
    return None
