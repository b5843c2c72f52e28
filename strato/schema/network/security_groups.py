"""Security groups, their rules and their member VMs; what a member's port is allowed,
read whole (a rule naming another group becomes that group's members' addresses)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.network.models import SecurityGroup, SecurityGroupRule
from strato.domain.network.specs import PortSecurity, SecurityRule
from strato.schema import repository
from strato.schema.repository import TableSpec

GROUPS = TableSpec(
    "security_groups",
    "security_group",
    SecurityGroup,
    state_column=None,
    dependents={"vm_security_groups": "member VMs"},
    owner="owner",
)
RULES = TableSpec(
    "security_group_rules",
    "security_group_rule",
    SecurityGroupRule,
    state_column=None,
    references={"security_group_id": "security group", "remote_group_id": "security group"},
    owner="(SELECT g.owner FROM security_groups g"
    " WHERE g.id = security_group_rules.security_group_id)",
)
DEFAULT = "default"


async def lock(conn: Any, group_id: UUID) -> SecurityGroup:
    row = await conn.fetchrow("SELECT * FROM security_groups WHERE id = $1 FOR UPDATE", group_id)
    if row is None:
        raise NotFound(f"security group {group_id} does not exist", id=str(group_id))
    group: SecurityGroup = GROUPS.to_model(row)
    return group


async def default_group(conn: Any, owner: str) -> UUID:
    """The owner's default group, made on first use: no ingress, any egress."""
    await conn.execute(
        """INSERT INTO security_groups (id, owner, name, description)
           VALUES ($1, $2, $3, 'the default group: no ingress, any egress')
           ON CONFLICT (owner, name) DO NOTHING""",
        uuid4(),
        owner,
        DEFAULT,
    )
    group_id: UUID = await conn.fetchval(
        "SELECT id FROM security_groups WHERE owner = $1 AND name = $2", owner, DEFAULT
    )
    return group_id


async def add_rule(conn: Any, group: SecurityGroup, values: dict[str, Any]) -> SecurityGroupRule:
    """A rule of ``group`` (locked by the caller). A remote group must be the same
    owner's; the same rule twice is refused."""
    remote = values.get("remote_group_id")
    if remote is not None:
        other = await conn.fetchrow("SELECT owner FROM security_groups WHERE id = $1", remote)
        if other is None or other["owner"] != group.owner:
            raise InvalidInput(
                f"remote_group_id: no security group {remote} of owner {group.owner!r}",
                field="remote_group_id",
            )
    same = await conn.fetchval(
        """SELECT id FROM security_group_rules WHERE security_group_id = $1 AND direction = $2
             AND protocol = $3 AND start_port IS NOT DISTINCT FROM $4
             AND end_port IS NOT DISTINCT FROM $5 AND cidr IS NOT DISTINCT FROM $6::cidr
             AND remote_group_id IS NOT DISTINCT FROM $7""",
        group.id,
        values["direction"],
        values["protocol"],
        values.get("start_port"),
        values.get("end_port"),
        values.get("cidr"),
        remote,
    )
    if same is not None:
        raise Conflict(f"security group {group.name} has this rule already ({same})")
    rule: SecurityGroupRule = await repository.insert(
        conn, RULES, {**values, "id": uuid4(), "security_group_id": group.id}
    )
    return rule


async def delete_group(conn: Any, group: SecurityGroup) -> None:
    if group.name == DEFAULT:
        raise Conflict(f"the default security group of {group.owner!r} is not deleted")
    members = await conn.fetchval(
        "SELECT count(*) FROM vm_security_groups WHERE security_group_id = $1", group.id
    )
    referers = await conn.fetchval(
        """SELECT count(*) FROM security_group_rules
           WHERE remote_group_id = $1 AND security_group_id <> $1""",
        group.id,
    )
    if members or referers:
        raise Conflict(
            f"security group {group.name} has {members} member VM(s) and is named by "
            f"{referers} rule(s) of other groups"
        )
    await conn.execute("DELETE FROM security_groups WHERE id = $1", group.id)


async def join(conn: Any, vm_id: UUID, owner: str, group_ids: list[UUID]) -> None:
    """The VM a member of ``group_ids`` (the owner's own), or of its default group."""
    ids = list(dict.fromkeys(group_ids)) or [await default_group(conn, owner)]
    rows = await conn.fetch(
        "SELECT id, owner FROM security_groups WHERE id = ANY($1::uuid[]) FOR SHARE", ids
    )
    found = {r["id"]: r["owner"] for r in rows}
    for gid in ids:
        if found.get(gid) != owner:
            raise InvalidInput(
                f"security_group_ids: no security group {gid} of owner {owner!r}",
                field="security_group_ids",
            )
    await conn.executemany(
        "INSERT INTO vm_security_groups (vm_id, security_group_id) VALUES ($1, $2)",
        [(vm_id, gid) for gid in ids],
    )


async def port_security(conn: Any, vm_id: UUID, ip: str) -> PortSecurity:
    """What the VM's port with ``ip`` is allowed: the rules of all its groups."""
    rows = await conn.fetch(
        """SELECT r.direction, r.protocol, r.start_port, r.end_port, r.cidr, r.remote_group_id
           FROM security_group_rules r
           JOIN vm_security_groups m ON m.security_group_id = r.security_group_id
           WHERE m.vm_id = $1 ORDER BY r.created_at, r.id""",
        vm_id,
    )
    rules = []
    for r in rows:
        if r["remote_group_id"] is not None:
            cidrs = [f"{a}/32" for a in await member_addresses(conn, r["remote_group_id"])]
            if not cidrs:
                continue  # no member yet: the rule allows nothing
        else:
            cidrs = [str(r["cidr"])]
        rules.append(
            SecurityRule(
                direction=r["direction"],
                protocol=r["protocol"],
                start=r["start_port"],
                end=r["end_port"],
                cidrs=cidrs,
            )
        )
    return PortSecurity(ip_address=ip, rules=rules)


async def member_addresses(conn: Any, group_id: UUID) -> list[str]:
    rows = await conn.fetch(
        """SELECT DISTINCT host(n.ip_address) AS ip FROM nics n
           JOIN vm_security_groups m ON m.vm_id = n.vm_id
           WHERE m.security_group_id = $1 AND n.ip_address IS NOT NULL ORDER BY 1""",
        group_id,
    )
    return [r["ip"] for r in rows]


async def affected_vms(conn: Any, group_ids: list[UUID]) -> list[UUID]:
    """VMs whose ports change when these groups' rules or members change: their members,
    and the members of groups with rules naming them."""
    rows = await conn.fetch(
        """SELECT DISTINCT m.vm_id FROM vm_security_groups m
           WHERE m.security_group_id = ANY($1::uuid[])
              OR m.security_group_id IN (SELECT security_group_id FROM security_group_rules
                                         WHERE remote_group_id = ANY($1::uuid[]))
           ORDER BY 1""",
        group_ids,
    )
    return [r["vm_id"] for r in rows]


async def groups_of(conn: Any, vm_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT security_group_id FROM vm_security_groups WHERE vm_id = $1", vm_id
    )
    return [r["security_group_id"] for r in rows]


async def leave(conn: Any, vm_id: UUID) -> None:
    """The VM (being expunged) in no group any more."""
    await conn.execute("DELETE FROM vm_security_groups WHERE vm_id = $1", vm_id)


async def on_secured_network(conn: Any, vm_id: UUID) -> bool:
    """Whether a NIC of the VM is on a network whose offering has security groups."""
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM nics n JOIN networks net ON net.id = n.network_id
                          JOIN network_offerings o ON o.id = net.offering_id
                          WHERE n.vm_id = $1 AND 'SecurityGroup' = ANY(o.services))""",
        vm_id,
    )
    return found
