"""What a guest network's devices should be, read from the database: the specs sent to the
network agents (``network@<host>``) by the network and VM workflows.

A network with a physical network is *managed*: its NICs' ports are plugged by the agent
of their VM's host, and its router runs on one host (the first VM's). Every function here
locks the network's row first, counts its generation up and builds the specs at that
generation: an agent ignores a spec older than one it applied, so concurrent operations,
each applying the network whole, converge on the newest state.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, NotFound
from strato.domain.network.payloads import (
    HostNetworks,
    PortsPlan,
    RouterJob,
    UserDataJob,
)
from strato.domain.network.ranges import MTU
from strato.domain.network.specs import (
    DhcpHost,
    EgressRule,
    FirewallRule,
    GuestMetadata,
    NetworkSpec,
    PortForward,
    PortSpec,
    RouterPublic,
    RouterSpec,
    StaticNat,
)
from strato.schema import events
from strato.schema.network import physical, port_security, public_ips, security_groups
from strato.schema.network.guest_data import user_data

USER_DATA = "UserData"
ROUTED = {"Dhcp", "Dns", "SourceNat", "StaticNat", "PortForwarding", "Firewall", "UserData"}
# A network without an offering has its guest type's default offering's services.
DEFAULT_SERVICES = {
    "isolated": ["Dhcp", "Dns", "SourceNat", "StaticNat", "PortForwarding", "Firewall", "UserData"],
    "shared": ["Dhcp", "Dns", "UserData"],
}


def hostname(name: str) -> str:
    """A VM's name as a DNS label (what dnsmasq answers for it)."""
    label = re.sub(r"[^A-Za-z0-9-]", "-", name)[:63].strip("-")
    return label or "vm"


def vlan_tag(vlan: str) -> int:
    """A public range's VLAN (``untagged``, ``100``, ``vlan://100``) as a tag (0: none)."""
    digits = re.sub(r"^vlan://", "", vlan or "")
    return int(digits) if digits.isdigit() else 0


async def lock(conn: Any, network_id: UUID, *, read_only: bool = False) -> dict[str, Any]:
    """The network's row, locked (``read_only``: not), with its offering's services and
    its isolation."""
    row = await conn.fetchrow(
        f"""SELECT n.*, host(n.gateway) AS gw, o.services, p.isolation
            FROM networks n
            LEFT JOIN network_offerings o ON o.id = n.offering_id
            LEFT JOIN physical_networks p ON p.id = n.physical_network_id
            WHERE n.id = $1 {"" if read_only else "FOR UPDATE OF n"}""",
        network_id,
    )
    if row is None:
        raise NotFound(f"network {network_id} does not exist", id=str(network_id))
    net = dict(row)
    net["name_key"] = str(net["id"])  # what hosts know the network by: unique, never renamed
    net["services"] = list(net["services"] or DEFAULT_SERVICES.get(net["kind"], []))
    return net


async def bump(conn: Any, net: dict[str, Any]) -> int:
    gen: int = await conn.fetchval(
        "UPDATE networks SET generation = generation + 1 WHERE id = $1 RETURNING generation",
        net["id"],
    )
    net["generation"] = gen
    return gen


def has_router(net: dict[str, Any]) -> bool:
    return bool(ROUTED & set(net["services"]))


async def host_names(conn: Any, ids: set[UUID]) -> dict[UUID, tuple[str, str | None]]:
    rows = await conn.fetch(
        "SELECT id, name, host(tunnel_ip) AS tunnel_ip FROM hosts WHERE id = ANY($1::uuid[])",
        list(ids),
    )
    return {r["id"]: (r["name"], r["tunnel_ip"]) for r in rows}


async def port_hosts(conn: Any, net: dict[str, Any]) -> set[UUID]:
    """The hosts the network has ports on: its plugged NICs' and its router's."""
    rows = await conn.fetch(
        "SELECT DISTINCT host_id FROM nics WHERE network_id = $1 AND host_id IS NOT NULL",
        net["id"],
    )
    hosts = {r["host_id"] for r in rows}
    if net["router_host_id"] is not None and has_router(net):
        hosts.add(net["router_host_id"])
    return hosts


async def port_host_names(conn: Any, net: dict[str, Any]) -> list[str]:
    return sorted(
        name for name, _ in (await host_names(conn, await port_hosts(conn, net))).values()
    )


def spec_of(net: dict[str, Any], peers: list[str]) -> NetworkSpec:
    return NetworkSpec(
        name=net["name_key"],
        kind=net["kind"],
        cidr=str(net["cidr"]) if net["cidr"] else None,
        gateway=net["gw"],
        segment=net["segment"],
        isolation=net["isolation"] or "VLAN",
        peers=sorted(peers),
        generation=net["generation"],
    )


async def network_specs(conn: Any, net: dict[str, Any]) -> dict[str, NetworkSpec]:
    """The network's spec per host it has ports on (each host's peers: the others)."""
    names = await host_names(conn, await port_hosts(conn, net))
    specs = {}
    for name, _tunnel in names.values():
        peers = [ip for other, ip in names.values() if other != name and ip]
        specs[name] = spec_of(net, peers)
    return specs


async def router_spec(
    conn: Any, net: dict[str, Any], *, leaving_vm: UUID | None = None
) -> RouterJob | None:
    """The network's router, whole, on its host (None: no router, or none placed yet).
    ``leaving_vm``: that VM's NICs left out (it is being expunged)."""
    if not has_router(net) or net["router_host_id"] is None:
        return None
    host = (await host_names(conn, {net["router_host_id"]})).get(net["router_host_id"])
    if host is None:
        return None
    leases = await conn.fetch(
        """SELECT n.mac, host(n.ip_address) AS ip, v.name, v.id AS vm_id, v.ssh_keys,
                  z.name AS zone,
                  (SELECT host(p.address) FROM public_ips p
                   WHERE p.static_nat_vm_id = v.id AND p.network_id = n.network_id) AS public_ip
           FROM nics n JOIN vms v ON v.id = n.vm_id JOIN zones z ON z.id = v.zone_id
           WHERE n.network_id = $1 AND n.ip_address IS NOT NULL
             AND ($2::uuid IS NULL OR n.vm_id <> $2) ORDER BY n.ip_address""",
        net["id"],
        leaving_vm,
    )
    seen: set[str] = set()
    hosts = []
    metadata: list[GuestMetadata] = []
    for r in leases:
        label = hostname(r["name"])
        # Two VMs with one name: the later one answers by address only.
        name = label if label not in seen else f"{label}-{r['ip'].replace('.', '-')}"
        hosts.append(DhcpHost(mac=r["mac"], ip=r["ip"], hostname=name))
        seen.add(label)
        if USER_DATA in net["services"]:
            metadata.append(
                GuestMetadata(
                    ip=r["ip"],
                    instance_id=str(r["vm_id"]),
                    hostname=name,
                    public_ip=r["public_ip"],
                    zone=r["zone"],
                    public_keys=list(r["ssh_keys"]),
                )
            )
    public, extra = await _public_side(conn, net)
    specs = await network_specs(conn, net)
    spec = RouterSpec(
        network=net["name_key"],
        tag=0,
        cidr=str(net["cidr"]),
        address=net["gw"],
        hosts=hosts,
        public=public,
        public_ips=extra,
        port_forwards=await _port_forwards(conn, net, leaving_vm),
        static_nats=[
            StaticNat(public_ip=r["address"], private_ip=r["private"])
            for r in await conn.fetch(
                """SELECT host(address) AS address, host(static_nat_ip) AS private
                   FROM public_ips WHERE network_id = $1 AND static_nat_vm_id IS NOT NULL
                     AND ($2::uuid IS NULL OR static_nat_vm_id <> $2)""",
                net["id"],
                leaving_vm,
            )
        ],
        firewall=[
            FirewallRule(
                public_ip=r["address"],
                protocol=r["protocol"],
                start=r["start_port"],
                end=r["end_port"],
                cidrs=[str(c) for c in r["cidrs"]],
            )
            for r in await conn.fetch(
                """SELECT host(p.address) AS address, f.* FROM firewall_rules f
                   JOIN public_ips p ON p.id = f.public_ip_id
                   WHERE p.network_id = $1 ORDER BY f.created_at, f.id""",
                net["id"],
            )
        ],
        net=specs.get(host[0]) or spec_of(net, []),
        generation=net["generation"],
        metadata=metadata,
        egress_default=net["egress_default"],
        mtu=MTU.get(net["isolation"] or "VLAN", 1500),
        egress=[
            EgressRule(
                protocol=r["protocol"],
                start=r["start_port"],
                end=r["end_port"],
                cidrs=[str(c) for c in r["cidrs"]],
            )
            for r in await conn.fetch(
                "SELECT * FROM egress_rules WHERE network_id = $1 ORDER BY created_at, id",
                net["id"],
            )
        ],
    )
    return RouterJob(host=host[0], spec=spec)


async def _public_side(conn: Any, net: dict[str, Any]) -> tuple[RouterPublic | None, list[str]]:
    rows = await conn.fetch(
        """SELECT host(p.address) AS address, p.source_nat, r.cidr, host(r.gateway) AS gateway,
                  r.vlan FROM public_ips p JOIN public_ip_ranges r ON r.id = p.range_id
           WHERE p.network_id = $1 AND p.state = 'Allocated'
           ORDER BY p.source_nat DESC, p.address""",
        net["id"],
    )
    if not rows or not rows[0]["source_nat"]:
        return None, []
    first = rows[0]
    prefix = ipaddress.ip_network(str(first["cidr"])).prefixlen
    public = RouterPublic(
        address=f"{first['address']}/{prefix}",
        gateway=first["gateway"],
        tag=vlan_tag(first["vlan"]),
    )
    return public, [r["address"] for r in rows[1:]]


async def _port_forwards(
    conn: Any, net: dict[str, Any], leaving_vm: UUID | None
) -> list[PortForward]:
    rows = await conn.fetch(
        """SELECT host(p.address) AS address, f.protocol, f.public_start, f.public_end,
                  host(f.private_ip) AS private_ip, f.private_start
           FROM port_forwarding_rules f JOIN public_ips p ON p.id = f.public_ip_id
           WHERE f.network_id = $1 AND ($2::uuid IS NULL OR f.vm_id <> $2)
           ORDER BY f.created_at, f.id""",
        net["id"],
        leaving_vm,
    )
    return [
        PortForward(
            public_ip=r["address"],
            protocol=r["protocol"],
            public_port=r["public_start"],
            public_end=r["public_end"],
            private_ip=r["private_ip"],
            private_port=r["private_start"],
        )
        for r in rows
    ]


async def implement(conn: Any, net: dict[str, Any], host_id: UUID, op: UUID | None) -> None:
    """The network Implemented (its first VM is booting on ``host_id``): a segment from its
    physical network, a source-NAT address if its offering has source NAT, its router's
    host. Each part is kept if it exists already (a retry, a network shut down before)."""
    if net["state"] == "Implemented" and net["segment"] is not None:
        if has_router(net) and net["router_host_id"] is None:
            # Its router's host went Down (or was removed): this VM's host takes it.
            await conn.execute(
                "UPDATE networks SET router_host_id = $2 WHERE id = $1", net["id"], host_id
            )
            net["router_host_id"] = host_id
        return
    old = net["state"]
    if net["segment"] is None and net["physical_network_id"] is not None:
        vnet = await physical.allocate_segment(conn, net["physical_network_id"], net["id"])
        net["segment"] = str(vnet)
    if "SourceNat" in net["services"] and net["kind"] == "isolated":
        have = await conn.fetchval(
            "SELECT 1 FROM public_ips WHERE network_id = $1 AND source_nat", net["id"]
        )
        if not have:
            ip = await public_ips.acquire(conn, net["zone_id"], net["owner"] or "", net["id"], op)
            await conn.execute("UPDATE public_ips SET source_nat = true WHERE id = $1", ip.id)
    if has_router(net) and net["router_host_id"] is None:
        net["router_host_id"] = host_id
    await conn.execute(
        """UPDATE networks SET state = 'Implemented', segment = $2, router_host_id = $3,
                  implemented_at = clock_timestamp(), version = version + 1,
                  updated_at = clock_timestamp() WHERE id = $1""",
        net["id"],
        net["segment"],
        net["router_host_id"],
    )
    net["state"] = "Implemented"
    host = await host_names(conn, {host_id})
    await events.append(
        conn,
        "strato.network.implemented",
        "network",
        net["id"],
        old_state=old,
        new_state="Implemented",
        payload={
            "name": net["name"],
            "segment": net["segment"],
            "router_host": host.get(host_id, ("?", None))[0],
            "generation": net["generation"],
        },
        operation_id=op,
    )


async def managed_networks(conn: Any, vm_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT DISTINCT n.network_id FROM nics n JOIN networks net ON net.id = n.network_id
           WHERE n.vm_id = $1 AND net.physical_network_id IS NOT NULL ORDER BY n.network_id""",
        vm_id,
    )
    return [r["network_id"] for r in rows]


async def vm_joins(conn: Any, vm_id: UUID, host_id: UUID, op: UUID | None) -> PortsPlan:
    """A VM boots on ``host_id``: its managed NICs' ports plugged there (their networks
    implemented first, their routers applied with its leases, the other hosts' tunnels
    to this one). Networks are locked in id order (no deadlock between two boots)."""
    host_row = await conn.fetchrow("SELECT name, hypervisor FROM hosts WHERE id = $1", host_id)
    if host_row is None:
        raise Conflict(f"host {host_id} does not exist")
    host = host_row["name"]
    kind = "tap" if host_row["hypervisor"] == "kvm" else "veth"
    plan = PortsPlan(host=host)
    vm_name = await conn.fetchval("SELECT name FROM vms WHERE id = $1", vm_id)
    for network_id in await managed_networks(conn, vm_id):
        net = await lock(conn, network_id)
        if net["state"] == "Destroy":
            raise Conflict(f"network {net['name']} is being deleted")
        before = await port_hosts(conn, net)
        await bump(conn, net)
        await implement(conn, net, host_id, op)
        await conn.execute("UPDATE networks SET idle_since = NULL WHERE id = $1", network_id)
        nics = await conn.fetch(
            """UPDATE nics SET host_id = $3 WHERE vm_id = $1 AND network_id = $2
               RETURNING mac, host(ip_address) AS ip""",
            vm_id,
            network_id,
            host_id,
        )
        specs = await network_specs(conn, net)
        plan.plug.networks.append(specs.get(host) or spec_of(net, []))
        secured = port_security.SERVICE in net["services"]
        for r in nics:
            plan.plug.ports.append(
                PortSpec(
                    network=net["name_key"],
                    mac=r["mac"],
                    ip_address=r["ip"],
                    vm_name=vm_name,
                    kind=kind,
                    security=await security_groups.port_security(conn, vm_id, r["ip"])
                    if secured and r["ip"]
                    else None,
                )
            )
        router = await router_spec(conn, net)
        if router is not None:
            plan.routers.append(router)
            if router.spec.metadata:
                data = await user_data(conn, net, vm_id)
                if data.entries:
                    plan.user_data.append(UserDataJob(host=router.host, data=data))
        if net["isolation"] == "VXLAN" and host_id not in before:
            plan.peers.extend(
                HostNetworks(host=h, networks=[s])
                for h, s in specs.items()
                if h != host and (router is None or h != router.host)
            )
    await port_security.resecure_others(conn, plan, vm_id)
    return plan
