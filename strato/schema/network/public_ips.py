"""Public IP ranges and addresses: a range and its addresses written together, one Free
address acquired atomically (never the same one twice, never a wait), released."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from strato.domain.errors import AddressesExhausted, Conflict, NotFound
from strato.domain.network.models import PublicIp, PublicIpRange
from strato.schema import events, repository
from strato.schema.repository import TableSpec

RANGES = TableSpec(
    "public_ip_ranges",
    "public_ip_range",
    PublicIpRange,
    state_column=None,
    references={"zone_id": "zone", "physical_network_id": "physical network"},
)
PUBLIC_IPS = TableSpec(
    "public_ips",
    "public_ip",
    PublicIp,
    references={"zone_id": "zone", "network_id": "network"},
    owner="owner",
)


async def create_range(conn: Any, values: dict[str, Any]) -> PublicIpRange:
    """The range and one Free row per address. Conflict if an address of it is in
    another range of the zone (the unique address per zone decides, so two concurrent
    overlapping ranges cannot both be written)."""
    rng: PublicIpRange = await repository.insert(conn, RANGES, values)
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO public_ips (id, zone_id, range_id, address)
                   SELECT gen_random_uuid(), $1, $2, $3::inet + g
                   FROM generate_series(0::bigint, ($4::inet - $3::inet)) g""",
                rng.zone_id,
                rng.id,
                rng.ip_start,
                rng.ip_end,
            )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(
            f"public IP range {rng.ip_start}-{rng.ip_end} overlaps another range of the zone"
        ) from err
    return rng


async def delete_range(conn: Any, range_id: UUID) -> None:
    """The range and its addresses: Conflict while one of them is allocated."""
    await repository.get(conn, RANGES, range_id)  # NotFound
    # Every address locked first: an acquire (which skips locked rows) cannot take one
    # of them between this count and the delete.
    rows = await conn.fetch("SELECT state FROM public_ips WHERE range_id = $1 FOR UPDATE", range_id)
    held = sum(1 for r in rows if r["state"] != "Free")
    if held:
        raise Conflict(f"public IP range {range_id} has {held} allocated address(es): release them")
    await repository.delete(conn, RANGES, range_id)


async def acquire(
    conn: Any, zone_id: UUID, owner: str, network_id: UUID | None, op: UUID | None = None
) -> PublicIp:
    """One Free address of the zone, Allocated to ``owner`` (and ``network_id``), with its
    event. AddressesExhausted when none is free."""
    row = await conn.fetchrow(
        """UPDATE public_ips SET state = 'Allocated', owner = $2, network_id = $3,
                  allocated_at = clock_timestamp(), version = version + 1,
                  updated_at = clock_timestamp()
           WHERE id = (SELECT id FROM public_ips WHERE zone_id = $1 AND state = 'Free'
                       ORDER BY address LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING *""",
        zone_id,
        owner,
        network_id,
    )
    if row is None:
        raise AddressesExhausted(f"zone {zone_id} has no free public IP address left")
    ip = PUBLIC_IPS.to_model(row)
    await events.append(
        conn,
        "strato.public_ip.allocated",
        "public_ip",
        ip.id,
        old_state="Free",
        new_state="Allocated",
        payload={"address": ip.address, "owner": owner},
        operation_id=op,
    )
    return ip


async def release(conn: Any, ip_id: UUID, op: UUID | None = None) -> PublicIp:
    """The address Free again, with its event. Conflict for a network's source-NAT
    address (it goes with its network) or one that is Free already."""
    row = await conn.fetchrow("SELECT * FROM public_ips WHERE id = $1 FOR UPDATE", ip_id)
    if row is None:
        raise NotFound(f"public IP {ip_id} does not exist", id=str(ip_id))
    ip = PUBLIC_IPS.to_model(row)
    if ip.state == "Free":
        raise Conflict(f"public IP {ip.address} is not allocated")
    if ip.source_nat:
        raise Conflict(f"public IP {ip.address} is its network's source NAT: it goes with it")
    rules = await conn.fetchval(
        """SELECT (SELECT count(*) FROM port_forwarding_rules WHERE public_ip_id = $1)
                + (SELECT count(*) FROM firewall_rules WHERE public_ip_id = $1)""",
        ip_id,
    )
    if rules or ip.static_nat_vm_id is not None:
        what = f"{rules} rule(s)" if rules else "static NAT for a VM"
        raise Conflict(f"public IP {ip.address} has {what}: remove them before releasing it")
    row = await conn.fetchrow(
        """UPDATE public_ips SET state = 'Free', owner = NULL, network_id = NULL,
                  allocated_at = NULL, version = version + 1, updated_at = clock_timestamp()
           WHERE id = $1 RETURNING *""",
        ip_id,
    )
    await events.append(
        conn,
        "strato.public_ip.released",
        "public_ip",
        ip_id,
        old_state="Allocated",
        new_state="Free",
        payload={"address": ip.address, "owner": ip.owner or ""},
        operation_id=op,
        owner=ip.owner,  # the row is Free (no owner) by now: its usage ends for this one
    )
    return PUBLIC_IPS.to_model(row)
