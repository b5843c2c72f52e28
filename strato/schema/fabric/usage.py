"""Capacity by zone, pod, cluster, host, pool and physical network (read-only; see
:mod:`strato.domain.fabric.capacity`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from strato.domain.fabric.capacity import CapacityEntry, Kind, Scope
from strato.schema.compute.capacity import CPU_CAPACITY, MEM_CAPACITY


async def summary(conn: Any, zone_id: UUID | None = None) -> list[CapacityEntry]:
    """Every capacity entry (of one zone, if given), zones first, then pods, clusters,
    hosts, pools and physical networks, each by name."""
    entries: list[CapacityEntry] = []
    names = {
        r["id"]: (r["kind"], r["name"], r["zone_id"])
        for r in await conn.fetch(
            """SELECT 'zone' AS kind, id, name, id AS zone_id FROM zones
               UNION ALL SELECT 'pod', id, name, zone_id FROM pods
               UNION ALL SELECT 'cluster', id, name, zone_id FROM clusters"""
        )
    }
    hosts = await conn.fetch(
        f"""SELECT h.id, h.name, h.status, h.zone_id, h.pod_id, h.cluster_id,
                   {CPU_CAPACITY} AS cpu, h.cpu_used_mhz, {MEM_CAPACITY} AS memory,
                   h.memory_used_mb
            FROM hosts h JOIN clusters c ON c.id = h.cluster_id
            WHERE h.status <> 'Removed' AND ($1::uuid IS NULL OR h.zone_id = $1)
            ORDER BY h.name""",
        zone_id,
    )
    # Zones, pods and clusters sum what their Up hosts offer and hold.
    sums: dict[tuple[UUID, Kind], list[int]] = defaultdict(lambda: [0, 0])
    for h in hosts:
        if h["status"] != "Up":
            continue
        for parent in (h["zone_id"], h["pod_id"], h["cluster_id"]):
            sums[(parent, "cpu")][0] += h["cpu"]
            sums[(parent, "cpu")][1] += h["cpu_used_mhz"]
            sums[(parent, "memory")][0] += h["memory"]
            sums[(parent, "memory")][1] += h["memory_used_mb"]
    for scope in ("zone", "pod", "cluster"):
        for (parent, kind), (total, allocated) in sorted(
            sums.items(), key=lambda item: (names[item[0][0]][1], item[0][1])
        ):
            if names[parent][0] == scope:
                entries.append(_entry(scope, parent, names, kind, total, allocated))
    for h in hosts:
        for kind, total, allocated in (
            ("cpu", h["cpu"], h["cpu_used_mhz"]),
            ("memory", h["memory"], h["memory_used_mb"]),
        ):
            entries.append(
                CapacityEntry(
                    scope="host",
                    id=h["id"],
                    name=h["name"],
                    zone_id=h["zone_id"],
                    kind=kind,
                    total=total,
                    allocated=allocated,
                )
            )
    pools = await conn.fetch(
        """SELECT id, name, zone_id, capacity_bytes, allocated_bytes, used_bytes
           FROM storage_pools WHERE ($1::uuid IS NULL OR zone_id = $1) ORDER BY name""",
        zone_id,
    )
    entries += [
        CapacityEntry(
            scope="pool",
            id=p["id"],
            name=p["name"],
            zone_id=p["zone_id"],
            kind="storage",
            total=p["capacity_bytes"],
            allocated=p["allocated_bytes"],
            used=p["used_bytes"],
        )
        for p in pools
    ]
    ips = await conn.fetch(
        """SELECT z.id, z.name, z.id AS zone_id, count(*) AS total,
                  count(*) FILTER (WHERE ip.state = 'Allocated') AS allocated
           FROM public_ips ip JOIN zones z ON z.id = ip.zone_id
           WHERE ($1::uuid IS NULL OR z.id = $1) GROUP BY z.id, z.name ORDER BY z.name""",
        zone_id,
    )
    entries += _counted(ips, "zone", "public_ips")
    vlans = await conn.fetch(
        """SELECT p.id, p.name, p.zone_id, count(*) AS total,
                  count(s.network_id) AS allocated
           FROM segments s JOIN physical_networks p ON p.id = s.physical_network_id
           WHERE ($1::uuid IS NULL OR p.zone_id = $1)
           GROUP BY p.id, p.name, p.zone_id ORDER BY p.name""",
        zone_id,
    )
    entries += _counted(vlans, "physical_network", "vlans")
    if zone_id is not None:
        entries = [e for e in entries if e.zone_id == zone_id]
    return entries


def _entry(
    scope: Scope,
    id: UUID,
    names: dict[UUID, tuple[str, str, UUID]],
    kind: Kind,
    total: int,
    allocated: int,
) -> CapacityEntry:
    _, name, zone = names[id]
    return CapacityEntry(
        scope=scope, id=id, name=name, zone_id=zone, kind=kind, total=total, allocated=allocated
    )


def _counted(rows: list[Any], scope: Scope, kind: Kind) -> list[CapacityEntry]:
    """Entries of things counted one row each (addresses, segments)."""
    return [
        CapacityEntry(
            scope=scope,
            id=r["id"],
            name=r["name"],
            zone_id=r["zone_id"],
            kind=kind,
            total=r["total"],
            allocated=r["allocated"],
        )
        for r in rows
    ]
