"""The ports whose security groups changed, as plugs to run again on their hosts: a plug
converges, its security included."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from strato.domain.network.payloads import HostPlug, HostPrune, PlugInput, PortsPlan
from strato.domain.network.specs import PortSpec, PruneInput
from strato.schema.network import security_groups

SERVICE = "SecurityGroup"


async def secured_ports(
    conn: Any, vm_ids: list[UUID], *, exclude: UUID | None = None
) -> list[HostPlug]:
    """The plugged ports of ``vm_ids`` (but ``exclude``) on networks with security
    groups, by host, each with its security as it is now."""
    rows = await conn.fetch(
        """SELECT n.vm_id, n.mac, host(n.ip_address) AS ip, n.network_id, v.name AS vm,
                  h.name AS host, h.hypervisor
           FROM nics n JOIN vms v ON v.id = n.vm_id JOIN hosts h ON h.id = n.host_id
           JOIN networks net ON net.id = n.network_id
           JOIN network_offerings o ON o.id = net.offering_id
           WHERE n.vm_id = ANY($1::uuid[]) AND ($2::uuid IS NULL OR n.vm_id <> $2)
             AND n.ip_address IS NOT NULL AND $3 = ANY(o.services)
           ORDER BY h.name, n.mac""",
        vm_ids,
        exclude,
        SERVICE,
    )
    by_host: dict[str, list[PortSpec]] = defaultdict(list)
    for r in rows:
        by_host[r["host"]].append(
            PortSpec(
                network=str(r["network_id"]),
                mac=r["mac"],
                ip_address=r["ip"],
                vm_name=r["vm"],
                kind="tap" if r["hypervisor"] == "kvm" else "veth",
                security=await security_groups.port_security(conn, r["vm_id"], r["ip"]),
            )
        )
    return [
        HostPlug(host=h, plug=PlugInput(ports=ports, only_plugged=True))
        for h, ports in by_host.items()
    ]


async def group_plan(conn: Any, group_id: UUID) -> list[HostPlug]:
    """After a change to a group's rules: every affected port."""
    return await secured_ports(conn, await security_groups.affected_vms(conn, [group_id]))


async def network_ports(
    conn: Any, net: dict[str, Any], hosts: list[str]
) -> tuple[list[HostPlug], list[HostPrune]]:
    """Every plugged port of the network, by host, to plug again (a plug converges), and
    on each of ``hosts`` the network's ports to keep (the others are unplugged)."""
    rows = await conn.fetch(
        """SELECT n.vm_id, n.mac, host(n.ip_address) AS ip, v.name AS vm, h.name AS host,
                  h.hypervisor
           FROM nics n JOIN vms v ON v.id = n.vm_id JOIN hosts h ON h.id = n.host_id
           WHERE n.network_id = $1 ORDER BY h.name, n.mac""",
        net["id"],
    )
    secured = SERVICE in net["services"]
    by_host: dict[str, list[PortSpec]] = defaultdict(list)
    for r in rows:
        by_host[r["host"]].append(
            PortSpec(
                network=net["name_key"],
                mac=r["mac"],
                ip_address=r["ip"],
                vm_name=r["vm"],
                kind="tap" if r["hypervisor"] == "kvm" else "veth",
                security=await security_groups.port_security(conn, r["vm_id"], r["ip"])
                if secured and r["ip"]
                else None,
            )
        )
    plugs = [HostPlug(host=h, plug=PlugInput(ports=ports)) for h, ports in by_host.items()]
    prunes = [
        HostPrune(
            host=h,
            prune=PruneInput(network=net["name_key"], keep=[p.mac for p in by_host.get(h, [])]),
        )
        for h in hosts
    ]
    return plugs, prunes


async def resecure_others(
    conn: Any, plan: PortsPlan, vm_id: UUID, *, leaving: bool = False
) -> None:
    """Rules naming the VM's groups allow its addresses: their members' ports again
    (``leaving``: the VM leaves its groups first, its addresses with it)."""
    groups = await security_groups.groups_of(conn, vm_id)
    if leaving:
        await security_groups.leave(conn, vm_id)
    if groups:
        affected = await security_groups.affected_vms(conn, groups)
        plan.resecure.extend(await secured_ports(conn, affected, exclude=vm_id))
