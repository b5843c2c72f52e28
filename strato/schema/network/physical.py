"""Physical networks and their segment ids (vnets): ranges added and removed, one id
allocated to a guest network atomically, released with it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, SegmentsExhausted
from strato.domain.network.models import PhysicalNetwork
from strato.schema import repository
from strato.schema.repository import TableSpec

PHYSICAL_NETWORKS = TableSpec(
    "physical_networks",
    "physical_network",
    PhysicalNetwork,
    references={"zone_id": "zone"},
    dependents={"public_ip_ranges": "public IP ranges"},
)


async def lock(conn: Any, pn_id: UUID) -> PhysicalNetwork:
    """The physical network, locked: its ranges change one transaction at a time."""
    row = await conn.fetchrow("SELECT * FROM physical_networks WHERE id = $1 FOR UPDATE", pn_id)
    if row is None:
        return await repository.get(conn, PHYSICAL_NETWORKS, pn_id)  # raises NotFound
    return PHYSICAL_NETWORKS.to_model(row)


async def ranges(conn: Any, pn_id: UUID) -> list[dict[str, int]]:
    """The vnet ranges (contiguous runs of ids), each with how many ids are taken."""
    rows = await conn.fetch(
        """SELECT min(vnet) AS start, max(vnet) AS "end", count(network_id) AS allocated
           FROM (SELECT vnet, network_id, vnet - row_number() OVER (ORDER BY vnet) AS run
                 FROM segments WHERE physical_network_id = $1) s
           GROUP BY run ORDER BY start""",
        pn_id,
    )
    return [dict(r) for r in rows]


async def add_vnets(conn: Any, pn_id: UUID, start: int, end: int) -> None:
    """Ids ``start``..``end`` added (the physical network locked by the caller): Conflict
    if any of them is there already."""
    taken = await conn.fetchval(
        """SELECT count(*) FROM segments
           WHERE physical_network_id = $1 AND vnet BETWEEN $2 AND $3""",
        pn_id,
        start,
        end,
    )
    if taken:
        raise Conflict(f"vnets {start}-{end}: {taken} of them are in a range already")
    await conn.execute(
        """INSERT INTO segments (physical_network_id, vnet)
           SELECT $1, g FROM generate_series($2::integer, $3::integer) g""",
        pn_id,
        start,
        end,
    )


async def remove_vnets(conn: Any, pn_id: UUID, start: int, end: int) -> int:
    """Ids ``start``..``end`` removed: Conflict (nothing removed) if a network holds one.
    Only free rows are deleted, each re-checked under its lock: an allocation committing
    meanwhile keeps its row, and the count tells."""
    present: int = await conn.fetchval(
        "SELECT count(*) FROM segments WHERE physical_network_id = $1 AND vnet BETWEEN $2 AND $3",
        pn_id,
        start,
        end,
    )
    status: str = await conn.execute(
        """DELETE FROM segments WHERE physical_network_id = $1 AND vnet BETWEEN $2 AND $3
             AND network_id IS NULL""",
        pn_id,
        start,
        end,
    )
    removed = int(status.split()[-1])
    if removed != present:
        raise Conflict(
            f"vnets {start}-{end}: networks hold {present - removed} of them: none removed"
        )
    return removed


async def drop_free(conn: Any, pn_id: UUID) -> int:
    """Every free id of the physical network removed; the number still held by networks
    (a delete of the physical network goes on only if none)."""
    await conn.execute(
        "DELETE FROM segments WHERE physical_network_id = $1 AND network_id IS NULL", pn_id
    )
    held: int = await conn.fetchval(
        "SELECT count(*) FROM segments WHERE physical_network_id = $1", pn_id
    )
    return held


async def allocate_segment(conn: Any, pn_id: UUID, network_id: UUID) -> int:
    """A free id of the physical network for ``network_id`` (the one it has already, if
    any). Concurrent allocations skip each other's locked rows: never the same id, never
    a wait. SegmentsExhausted when none is free."""
    have = await conn.fetchval("SELECT vnet FROM segments WHERE network_id = $1", network_id)
    if have is not None:
        return int(have)
    vnet = await conn.fetchval(
        """UPDATE segments SET network_id = $2, allocated_at = clock_timestamp()
           WHERE (physical_network_id, vnet) = (
               SELECT physical_network_id, vnet FROM segments
               WHERE physical_network_id = $1 AND network_id IS NULL
               ORDER BY vnet LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING vnet""",
        pn_id,
        network_id,
    )
    if vnet is None:
        raise SegmentsExhausted(f"physical network {pn_id} has no free segment id left")
    return int(vnet)


async def release_segment(conn: Any, network_id: UUID) -> None:
    await conn.execute(
        "UPDATE segments SET network_id = NULL, allocated_at = NULL WHERE network_id = $1",
        network_id,
    )
