"""A public IP's rules: port forwarding, the ingress firewall, static NAT. Each change
locks the public IP first, so the checks (a clash between forwarded ranges, static NAT
against port forwarding, a release against the rules: ``public_ips.release``) hold
against concurrent ones."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.network.models import EgressRule, FirewallRule, PortForwardingRule, PublicIp
from strato.schema import repository
from strato.schema.network.public_ips import PUBLIC_IPS
from strato.schema.repository import TableSpec

PORT_FORWARDS = TableSpec(
    "port_forwarding_rules",
    "port_forwarding_rule",
    PortForwardingRule,
    state_column=None,
    references={"public_ip_id": "public IP", "vm_id": "vm"},
    owner="(SELECT p.owner FROM public_ips p WHERE p.id = port_forwarding_rules.public_ip_id)",
)
EGRESS = TableSpec(
    "egress_rules",
    "egress_rule",
    EgressRule,
    state_column=None,
    references={"network_id": "network"},
    owner="(SELECT n.owner FROM networks n WHERE n.id = egress_rules.network_id)",
)
FIREWALL = TableSpec(
    "firewall_rules",
    "firewall_rule",
    FirewallRule,
    state_column=None,
    references={"public_ip_id": "public IP"},
    owner="(SELECT p.owner FROM public_ips p WHERE p.id = firewall_rules.public_ip_id)",
)


async def lock_ip(conn: Any, ip_id: UUID, *, for_network: bool = True) -> PublicIp:
    """The public IP, locked; Allocated (and, ``for_network``, to a network)."""
    row = await conn.fetchrow("SELECT * FROM public_ips WHERE id = $1 FOR UPDATE", ip_id)
    if row is None:
        raise NotFound(f"public IP {ip_id} does not exist", id=str(ip_id))
    ip = PUBLIC_IPS.to_model(row)
    if ip.state != "Allocated":
        raise Conflict(f"public IP {ip.address} is {ip.state}: acquire it first")
    if for_network and ip.network_id is None:
        raise Conflict(f"public IP {ip.address} belongs to no network: acquire it for one")
    return ip


async def vm_address(conn: Any, vm_id: UUID, network_id: UUID) -> str:
    """The VM's address on the network (InvalidInput if it has no NIC there)."""
    ip = await conn.fetchval(
        "SELECT host(ip_address) FROM nics WHERE vm_id = $1 AND network_id = $2 LIMIT 1",
        vm_id,
        network_id,
    )
    if ip is None:
        raise InvalidInput(f"vm_id: VM {vm_id} has no address on the IP's network", field="vm_id")
    return str(ip)


async def add_port_forward(
    conn: Any, ip: PublicIp, vm_id: UUID, values: dict[str, Any]
) -> PortForwardingRule:
    if ip.static_nat_vm_id is not None:
        raise Conflict(f"public IP {ip.address} is static NAT for a VM: it forwards everything")
    clash = await conn.fetchrow(
        """SELECT public_start, public_end FROM port_forwarding_rules
           WHERE public_ip_id = $1 AND protocol = $2 AND public_start <= $4 AND public_end >= $3""",
        ip.id,
        values["protocol"],
        values["public_start"],
        values["public_end"],
    )
    if clash is not None:
        raise Conflict(
            f"{values['protocol']} ports {values['public_start']}-{values['public_end']} of "
            f"{ip.address} clash with a rule for {clash['public_start']}-{clash['public_end']}"
        )
    assert ip.network_id is not None
    await _same_owner(conn, vm_id, ip)
    private_ip = await vm_address(conn, vm_id, ip.network_id)
    rule: PortForwardingRule = await repository.insert(
        conn,
        PORT_FORWARDS,
        {
            **values,
            "public_ip_id": ip.id,
            "network_id": ip.network_id,
            "vm_id": vm_id,
            "private_ip": private_ip,
        },
    )
    return rule


async def _same_owner(conn: Any, vm_id: UUID, ip: PublicIp) -> None:
    """A public IP forwards only to its own owner's VMs."""
    owner = await conn.fetchval("SELECT owner FROM vms WHERE id = $1", vm_id)
    if owner is not None and owner != (ip.owner or ""):
        raise InvalidInput(
            f"vm_id: VM {vm_id} is not owned by the owner of {ip.address}", field="vm_id"
        )


async def add_firewall(conn: Any, ip: PublicIp, values: dict[str, Any]) -> FirewallRule:
    rule: FirewallRule = await repository.insert(conn, FIREWALL, {**values, "public_ip_id": ip.id})
    return rule


async def enable_static_nat(conn: Any, ip: PublicIp, vm_id: UUID) -> PublicIp:
    if ip.source_nat:
        raise Conflict(f"public IP {ip.address} is its network's source NAT: not for one VM")
    forwards = await conn.fetchval(
        "SELECT count(*) FROM port_forwarding_rules WHERE public_ip_id = $1", ip.id
    )
    if forwards:
        raise Conflict(f"public IP {ip.address} has {forwards} port forwarding rule(s)")
    assert ip.network_id is not None
    await _same_owner(conn, vm_id, ip)
    private_ip = await vm_address(conn, vm_id, ip.network_id)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                """UPDATE public_ips SET static_nat_vm_id = $2, static_nat_ip = $3::inet,
                          version = version + 1, updated_at = clock_timestamp()
                   WHERE id = $1 RETURNING *""",
                ip.id,
                vm_id,
                private_ip,
            )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(f"VM {vm_id} has a static NAT address already") from err
    return PUBLIC_IPS.to_model(row)


async def disable_static_nat(conn: Any, ip: PublicIp) -> PublicIp:
    row = await conn.fetchrow(
        """UPDATE public_ips SET static_nat_vm_id = NULL, static_nat_ip = NULL,
                  version = version + 1, updated_at = clock_timestamp()
           WHERE id = $1 RETURNING *""",
        ip.id,
    )
    return PUBLIC_IPS.to_model(row)


async def delete_rule(conn: Any, spec: TableSpec[Any], rule_id: UUID) -> None:
    """A rule removed, its public IP locked first (as every change of its rules)."""
    rule = await repository.get(conn, spec, rule_id)
    await lock_ip(conn, rule.public_ip_id, for_network=False)
    await repository.delete(conn, spec, rule_id)


async def network_of_rule(conn: Any, spec: TableSpec[Any], rule_id: UUID) -> UUID | None:
    """The network of the public IP a rule is on."""
    network_id: UUID | None = await conn.fetchval(
        f"""SELECT p.network_id FROM {spec.table} r JOIN public_ips p ON p.id = r.public_ip_id
            WHERE r.id = $1""",
        rule_id,
    )
    return network_id


async def network_of_ip(conn: Any, ip_id: UUID) -> UUID | None:
    network_id: UUID | None = await conn.fetchval(
        "SELECT network_id FROM public_ips WHERE id = $1", ip_id
    )
    return network_id
