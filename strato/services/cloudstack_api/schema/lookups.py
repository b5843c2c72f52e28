"""Names CloudStack commands take, resolved to Strato's ids."""

from __future__ import annotations

from typing import Any
from uuid import UUID


async def key_pair_ids(conn: Any, owner: str, names: list[str]) -> dict[str, UUID]:
    rows = await conn.fetch(
        "SELECT name, id FROM ssh_key_pairs WHERE owner = $1 AND name = ANY($2::text[])",
        owner,
        names,
    )
    return {r["name"]: r["id"] for r in rows}


async def key_pair_by_name(conn: Any, owners: list[str] | None, name: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT * FROM ssh_key_pairs
            WHERE name = $1 AND ($2::text[] IS NULL OR owner = ANY($2::text[]))
            ORDER BY created_at LIMIT 1""",
        name,
        owners,
    )
    return dict(row) if row is not None else None


async def security_group_ids(conn: Any, owner: str, names: list[str]) -> dict[str, UUID]:
    rows = await conn.fetch(
        "SELECT name, id FROM security_groups WHERE owner = $1 AND name = ANY($2::text[])",
        owner,
        names,
    )
    return {r["name"]: r["id"] for r in rows}


async def security_group_by_name(conn: Any, owner: str, name: str) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM security_groups WHERE owner = $1 AND name = $2", owner, name
    )
    return found


async def account_id(conn: Any, name: str, domain_id: UUID | None) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        """SELECT id FROM acl_accounts
            WHERE name = $1 AND ($2::uuid IS NULL OR domain_id = $2)
            ORDER BY created_at LIMIT 1""",
        name,
        domain_id,
    )
    return found


async def vm_of_volume(conn: Any, volume_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval("SELECT vm_id FROM volumes WHERE id = $1", volume_id)
    return found


async def rule_kind(conn: Any, rule_id: UUID) -> str | None:
    """Which kind of network rule an id is: port forward, firewall or egress."""
    found: str | None = await conn.fetchval(
        """SELECT CASE
             WHEN EXISTS (SELECT 1 FROM port_forwarding_rules WHERE id = $1) THEN 'port-forward'
             WHEN EXISTS (SELECT 1 FROM firewall_rules WHERE id = $1) THEN 'firewall'
             WHEN EXISTS (SELECT 1 FROM egress_rules WHERE id = $1) THEN 'egress'
           END""",
        rule_id,
    )
    return found


async def resource_owner(conn: Any, table: str, resource_id: UUID) -> str | None:
    """The owner of a row of an owned table ('' for the cloud's); None: no such row."""
    from strato.schema import owned

    specs = {s.table: s for s in owned.SPECS.values()}
    spec = specs.get(table)
    expr = spec.owner if spec is not None and spec.owner else "''"
    assert table in specs or table == "templates", table
    found: str | None = await conn.fetchval(
        f"SELECT coalesce(({expr})::text, '') FROM {table} WHERE id = $1", resource_id
    )
    return found


async def vm_of_vm_snapshot(conn: Any, snapshot_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT vm_id FROM vm_snapshots WHERE id = $1", snapshot_id
    )
    return found


async def offering_kind(conn: Any, offering_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT lower(guest_type) FROM network_offerings WHERE id = $1", offering_id
    )
    return found


async def zone_of_network(conn: Any, network_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT zone_id FROM networks WHERE id = $1", network_id
    )
    return found


async def user_data(conn: Any, vm_id: UUID) -> tuple[str | None] | None:
    """``(user data,)`` of a VM that exists (not expunged), else None."""
    row = await conn.fetchrow(
        "SELECT user_data FROM vms WHERE id = $1 AND state <> 'Expunged'", vm_id
    )
    return (row["user_data"],) if row is not None else None


async def zone_cidrs(conn: Any, zone_id: UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT cidr::text FROM networks WHERE zone_id = $1 AND cidr IS NOT NULL", zone_id
    )
    return [r["cidr"] for r in rows]


async def rule_direction(conn: Any, rule_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT direction FROM security_group_rules WHERE id = $1", rule_id
    )
    return found
