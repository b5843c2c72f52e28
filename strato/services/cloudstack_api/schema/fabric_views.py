"""The infrastructure rows (zones to storage pools) and events CloudStack lists."""

from __future__ import annotations

from typing import Any

from strato.services.cloudstack_api.schema.views import View

ZONES = View(
    "zones",
    """t.id, t.name, t.description, t.network_type AS networktype, t.dns1,
       t.internal_dns1 AS internaldns1, t.state AS allocationstate,
       EXISTS (SELECT 1 FROM networks nw JOIN network_offerings o ON o.id = nw.offering_id
                WHERE nw.zone_id = t.id AND 'SecurityGroup' = ANY(o.services))
           AS securitygroupsenabled""",
    owner=None,
)

PODS = View(
    "pods",
    """t.id, t.name, t.zone_id AS zoneid, z.name AS zonename, t.gateway, t.netmask,
       t.state AS allocationstate""",
    "LEFT JOIN zones z ON z.id = t.zone_id",
    owner=None,
)

CLUSTERS = View(
    "clusters",
    """t.id, t.name, t.zone_id AS zoneid, z.name AS zonename, t.pod_id AS podid,
       p.name AS podname, t.hypervisor, t.state AS allocationstate,
       t.cpu_overcommit_ratio::text AS cpuovercommitratio,
       t.memory_overcommit_ratio::text AS memoryovercommitratio""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN pods p ON p.id = t.pod_id""",
    owner=None,
)

HOSTS = View(
    "hosts",
    """t.id, t.name, t.status AS state, t.resource_state AS resourcestate,
       t.zone_id AS zoneid, z.name AS zonename, t.pod_id AS podid, p.name AS podname,
       t.cluster_id AS clusterid, c.name AS clustername, t.hypervisor,
       t.hypervisor_version AS hypervisorversion, t.cpu_sockets AS cpusockets,
       t.cpu_cores AS cpunumber, t.cpu_speed_mhz AS cpuspeed,
       t.cpu_used_mhz, t.memory_total_mb, t.memory_used_mb, t.cpu_reserved_mhz,
       t.memory_reserved_mb, t.tunnel_ip, t.url,
       array_to_string(t.tags, ',') AS hosttags, t.last_heartbeat_at AS lastpinged,
       t.created_at AS created""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN pods p ON p.id = t.pod_id
       LEFT JOIN clusters c ON c.id = t.cluster_id""",
    owner=None,
    where="t.status <> 'Removed'",
)

STORAGE_POOLS = View(
    "storage_pools",
    """t.id, t.name, t.zone_id AS zoneid, z.name AS zonename, t.pod_id AS podid,
       p.name AS podname, t.cluster_id AS clusterid, c.name AS clustername,
       t.scope, t.driver, t.url, t.capacity_bytes AS disksizetotal,
       t.allocated_bytes AS disksizeallocated, t.used_bytes AS disksizeused,
       t.overprovisioning_factor::text AS overprovisionfactor,
       array_to_string(t.tags, ',') AS tagsstr, t.state, t.created_at AS created""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN pods p ON p.id = t.pod_id
       LEFT JOIN clusters c ON c.id = t.cluster_id""",
    owner=None,
)

EVENTS = View(
    "events",
    """t.seq AS seq_id, t.time AS created, t.type, t.resource_type, t.resource_id,
       t.old_state, t.new_state, t.payload""",
    name=None,
    keyword="t.type",
    order="t.seq DESC",
    tagged=False,
    key="seq",
)


async def zone_name(conn: Any, zone_id: Any) -> str | None:
    name: str | None = await conn.fetchval("SELECT name FROM zones WHERE id = $1", zone_id)
    return name


async def first_zone(conn: Any) -> Any:
    return await conn.fetchval("SELECT id FROM zones ORDER BY created_at LIMIT 1")
