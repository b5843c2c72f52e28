"""Storage claims: room for a volume on a pool, counted against the pool's capacity."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.compute.payloads import PoolPlacement
from strato.domain.errors import InsufficientCapacity


async def claim_pool(conn: Any, volume_id: UUID, host_id: UUID) -> PoolPlacement | None:
    """Claim room for the volume on a pool the host can reach (its cluster's, or
    zone-wide), emptiest first. Idempotent per volume. None when no pool has room."""
    vol = await conn.fetchrow("SELECT name, size_bytes FROM volumes WHERE id = $1", volume_id)
    existing = await conn.fetchrow(
        """SELECT pc.pool_id, p.name FROM pool_claims pc
           JOIN storage_pools p ON p.id = pc.pool_id
           JOIN hosts h ON h.id = $2
           WHERE pc.volume_id = $1
             AND (p.cluster_id = h.cluster_id OR (p.scope = 'zone' AND p.zone_id = h.zone_id))""",
        volume_id,
        host_id,
    )
    if existing is not None:
        return PoolPlacement(
            pool_id=existing["pool_id"],
            pool_name=existing["name"],
            volume_id=volume_id,
            volume_name=vol["name"],
            size_bytes=vol["size_bytes"],
        )
    await release_pool(conn, volume_id)  # a claim on a pool this host cannot reach
    row = await conn.fetchrow(
        """UPDATE storage_pools p SET allocated_bytes = p.allocated_bytes + $2
           WHERE p.id = (
               SELECT p2.id FROM storage_pools p2 JOIN hosts h ON h.id = $1
               WHERE p2.state = 'Up'
                 AND (p2.cluster_id = h.cluster_id
                      OR (p2.scope = 'zone' AND p2.zone_id = h.zone_id))
                 AND p2.allocated_bytes + $2
                     <= floor(p2.capacity_bytes * p2.overprovisioning_factor)
               ORDER BY floor(p2.capacity_bytes * p2.overprovisioning_factor)
                        - p2.allocated_bytes DESC
               LIMIT 1 FOR UPDATE)
             AND p.allocated_bytes + $2 <= floor(p.capacity_bytes * p.overprovisioning_factor)
           RETURNING p.id, p.name""",
        host_id,
        vol["size_bytes"],
    )
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO pool_claims (volume_id, pool_id, bytes) VALUES ($1, $2, $3)",
        volume_id,
        row["id"],
        vol["size_bytes"],
    )
    await conn.execute("UPDATE volumes SET pool_id = $2 WHERE id = $1", volume_id, row["id"])
    return PoolPlacement(
        pool_id=row["id"],
        pool_name=row["name"],
        volume_id=volume_id,
        volume_name=vol["name"],
        size_bytes=vol["size_bytes"],
    )


async def release_pool(conn: Any, volume_id: UUID) -> None:
    row = await conn.fetchrow(
        "DELETE FROM pool_claims WHERE volume_id = $1 RETURNING pool_id, bytes", volume_id
    )
    if row is not None:
        await conn.execute(
            "UPDATE storage_pools SET allocated_bytes = allocated_bytes - $2 WHERE id = $1",
            row["pool_id"],
            row["bytes"],
        )


async def resize_claim(conn: Any, volume_id: UUID, size_bytes: int, *, force: bool = False) -> bool:
    """Make the volume's pool claim ``size_bytes`` large, within the pool's capacity
    (times its overprovisioning factor). False, with nothing changed, when the pool has
    not that much room. A volume with no claim (not on a pool yet) has nothing to change."""
    claim = await conn.fetchrow(
        "SELECT pool_id, bytes FROM pool_claims WHERE volume_id = $1 FOR UPDATE", volume_id
    )
    if claim is None or claim["bytes"] == size_bytes:
        return True
    delta = size_bytes - claim["bytes"]
    moved = await conn.fetchval(
        """UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2::bigint
           WHERE id = $1
             AND ($3 OR $2::bigint <= 0
                  OR allocated_bytes + $2::bigint
                     <= floor(capacity_bytes * overprovisioning_factor))
           RETURNING id""",
        claim["pool_id"],
        delta,
        force,
    )
    if moved is None:
        return False
    await conn.execute(
        "UPDATE pool_claims SET bytes = $2 WHERE volume_id = $1", volume_id, size_bytes
    )
    return True


async def scope_of(conn: Any, pool_id: UUID) -> tuple[str, UUID | None]:
    """A pool's name and the cluster it serves (None: zone-wide)."""
    row = await conn.fetchrow(
        "SELECT name, scope, cluster_id FROM storage_pools WHERE id = $1", pool_id
    )
    return row["name"], (row["cluster_id"] if row["scope"] == "cluster" else None)


async def claim_near(
    conn: Any, volume_id: UUID, *, host_name: str | None, near_pool_name: str | None
) -> tuple[UUID, str] | None:
    """Room for a data volume on its first attach, on a pool the VM reaches: the pool of
    its root volume if it has room, else the emptiest Up pool of the cluster of its host
    (a running VM) or of its root's pool (a stopped one), or a zone-wide pool of that zone.
    Idempotent per volume. None when no such pool has room."""
    held = await conn.fetchrow(
        """SELECT pc.pool_id, p.name FROM pool_claims pc
           JOIN storage_pools p ON p.id = pc.pool_id WHERE pc.volume_id = $1""",
        volume_id,
    )
    if held is not None:
        return held["pool_id"], held["name"]
    size = await conn.fetchval("SELECT size_bytes FROM volumes WHERE id = $1", volume_id)
    row = await conn.fetchrow(
        """WITH reach AS (
               SELECT coalesce(
                        (SELECT cluster_id FROM hosts WHERE name = $1),
                        (SELECT cluster_id FROM storage_pools WHERE name = $2)) AS cluster_id,
                      coalesce(
                        (SELECT zone_id FROM hosts WHERE name = $1),
                        (SELECT zone_id FROM storage_pools WHERE name = $2)) AS zone_id)
           UPDATE storage_pools p SET allocated_bytes = p.allocated_bytes + $3
           WHERE p.id = (
               SELECT p2.id FROM storage_pools p2, reach r
               WHERE p2.state = 'Up'
                 AND (p2.cluster_id = r.cluster_id
                      OR (p2.scope = 'zone' AND p2.zone_id = r.zone_id))
                 AND p2.allocated_bytes + $3
                     <= floor(p2.capacity_bytes * p2.overprovisioning_factor)
               ORDER BY p2.name = $2 DESC,
                        floor(p2.capacity_bytes * p2.overprovisioning_factor)
                        - p2.allocated_bytes DESC
               LIMIT 1 FOR UPDATE)
             AND p.allocated_bytes + $3 <= floor(p.capacity_bytes * p.overprovisioning_factor)
           RETURNING p.id, p.name""",
        host_name,
        near_pool_name,
        size,
    )
    if row is None:
        return None
    await conn.execute(
        "INSERT INTO pool_claims (volume_id, pool_id, bytes) VALUES ($1, $2, $3)",
        volume_id,
        row["id"],
        size,
    )
    await conn.execute("UPDATE volumes SET pool_id = $2 WHERE id = $1", volume_id, row["id"])
    return row["id"], row["name"]


async def claim_on(conn: Any, volume_id: UUID, pool_id: UUID, size: int) -> bool:
    """Room for the volume on that very pool (a copy made next to its source), within the
    pool's capacity times its overprovisioning factor. False, nothing changed, if full."""
    moved = await conn.fetchval(
        """UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2::bigint
           WHERE id = $1 AND state = 'Up'
             AND allocated_bytes + $2::bigint <= floor(capacity_bytes * overprovisioning_factor)
           RETURNING id""",
        pool_id,
        size,
    )
    if moved is None:
        return False
    await conn.execute(
        "INSERT INTO pool_claims (volume_id, pool_id, bytes) VALUES ($1, $2, $3)",
        volume_id,
        pool_id,
        size,
    )
    await conn.execute("UPDATE volumes SET pool_id = $2 WHERE id = $1", volume_id, pool_id)
    return True


async def move_claim(conn: Any, volume_id: UUID, pool_id: UUID, *, force: bool = False) -> bool:
    """Move the volume's claim to another pool (a migration reserves room on its target
    first; a failed one moves it back, ``force``: past the capacity). The volume's
    recorded pool changes when its file has moved. False, nothing changed, if full."""
    claim = await conn.fetchrow(
        "SELECT pool_id, bytes FROM pool_claims WHERE volume_id = $1 FOR UPDATE", volume_id
    )
    if claim is None or claim["pool_id"] == pool_id:
        return claim is not None
    moved = await conn.fetchval(
        """UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2::bigint
           WHERE id = $1 AND (state = 'Up' OR $3)
             AND (allocated_bytes + $2::bigint
                  <= floor(capacity_bytes * overprovisioning_factor) OR $3)
           RETURNING id""",
        pool_id,
        claim["bytes"],
        force,
    )
    if moved is None:
        return False
    await conn.execute(
        """UPDATE storage_pools SET allocated_bytes = greatest(allocated_bytes - $2::bigint, 0)
           WHERE id = $1""",
        claim["pool_id"],
        claim["bytes"],
    )
    await conn.execute(
        "UPDATE pool_claims SET pool_id = $2 WHERE volume_id = $1", volume_id, pool_id
    )
    return True


async def in_zone(conn: Any, zone_id: UUID, *, prefer_volume: UUID | None = None) -> list[Any]:
    """(id, name) of the zone's Up pools, the pool holding ``prefer_volume`` first."""
    rows: list[Any] = await conn.fetch(
        """SELECT p.id, p.name FROM storage_pools p
           WHERE p.zone_id = $1 AND p.state = 'Up'
           ORDER BY (p.id = (SELECT pool_id FROM volumes WHERE id = $2)) IS TRUE DESC, p.name""",
        zone_id,
        prefer_volume,
    )
    return [(r["id"], r["name"]) for r in rows]


async def claim_in_zone(
    conn: Any, volume_id: UUID, zone_id: UUID, prefer_volume: UUID, size: int
) -> str:
    """Room for a new volume on ``prefer_volume``'s pool if it has it, else on another Up
    pool of the zone; the pool's name. InsufficientCapacity when none has room."""
    for pool_id, name in await in_zone(conn, zone_id, prefer_volume=prefer_volume):
        if await claim_on(conn, volume_id, pool_id, size):
            return str(name)
    raise InsufficientCapacity(f"no pool of the zone has room for {size} bytes")
