"""Guest networks, public IPs, static NAT, port forwarding, firewall and egress rules,
onto Strato's network commands."""

from __future__ import annotations

import ipaddress
from typing import Any

from strato.api.schemas.compute.vms import NetworkCreate
from strato.commands import guest_networks
from strato.commands import network as net
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import COMMON, OWNED, account_filters, answer_list
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.schema import lookups
from strato.services.cloudstack_api.schema import storage_views as sv
from strato.services.cloudstack_api.vms import ACCOUNT, owner_of_request

ID = P("id", "uuid", required=True)
DEFAULT_CIDR = "10.1.1.0/24"  # CloudStack's guest CIDR for an isolated network


read_network = jobs.reader("Network", "network")(jobs.view_reader(sv.NETWORKS, render.network))
read_ip = jobs.reader("IpAddress", "ipaddress")(jobs.view_reader(sv.PUBLIC_IPS, render.public_ip))
jobs.reader("PortForwardingRule", "portforwardingrule")(
    jobs.view_reader(sv.PORT_FORWARDS, render.port_forward)
)
jobs.reader("FirewallRule", "firewallrule")(
    jobs.view_reader(sv.FIREWALL_RULES, render.firewall_rule)
)
jobs.reader("EgressRule", "firewallrule")(jobs.view_reader(sv.EGRESS_RULES, render.firewall_rule))


@command(
    "listNetworks",
    "Lists guest networks",
    *OWNED,
    P("zoneid", "uuid"),
    P("type", "string", description="Isolated, Shared or L2"),
    P("traffictype", "string"),
    P("isdefault", "boolean"),
    P("canusefordeploy", "boolean"),
    P("networkofferingid", "uuid"),
    P("vpcid", "uuid"),
    P("forvpc", "boolean"),
    item="network",
    action="network.list",
    response=("id", "name", "displaytext", "type", "cidr", "state", "zoneid"),
)
async def list_networks(call: Call) -> dict[str, Any]:
    if call.get("vpcid") is not None or call.get("forvpc"):
        return {}  # Strato has no VPCs
    if call.get("traffictype") and call["traffictype"].lower() != "guest":
        return {}
    filters: list[tuple[str, Any]] = []
    if call.get("zoneid") is not None:
        filters.append(("t.zone_id = {}", call["zoneid"]))
    if call.get("type"):
        filters.append(("t.kind = lower({})", call["type"]))
    if call.get("isdefault") is not None:
        filters.append(("t.is_default = {}", call["isdefault"]))
    if call.get("networkofferingid") is not None:
        filters.append(("t.offering_id = {}", call["networkofferingid"]))
    owners = call.owners()
    if owners is not None:
        # an account sees its own networks and the zone's shared ones
        filters.append(("(t.kind = 'shared' OR coalesce(t.owner, '') = ANY({}::text[]))", owners))
    filters += account_filters(sv.NETWORKS, call)
    return await answer_list(call, sv.NETWORKS, "network", filters=filters, owned=False)


@command(
    "listNetworkOfferings",
    "Lists network offerings",
    *COMMON,
    P("guestiptype", "string"),
    P("zoneid", "uuid"),
    P("state", "string"),
    P("forvpc", "boolean"),
    item="networkoffering",
    action="network-offering.list",
    response=("id", "name", "displaytext", "guestiptype", "state"),
)
async def list_network_offerings(call: Call) -> dict[str, Any]:
    if call.get("forvpc"):
        return {}
    filters: list[tuple[str, Any]] = []
    if call.get("guestiptype"):
        filters.append(("lower(t.guest_type) = lower({})", call["guestiptype"]))
    return await answer_list(
        call, sv.NETWORK_OFFERINGS, "networkoffering", filters=filters, owned=False
    )


async def _cidr(call: Call) -> str:
    """The network's CIDR: from ``gateway`` and ``netmask``; else CloudStack's default
    guest CIDR, or (Strato's networks of a zone never overlap) the first free /24 of
    10.0.0.0/8 after it."""
    gateway, netmask = call.get("gateway"), call.get("netmask")
    if gateway and netmask:
        try:
            return str(ipaddress.ip_interface(f"{gateway}/{netmask}").network)
        except ValueError as err:
            raise wire.param_error(f"gateway/netmask: {err}") from None
    if gateway or netmask:
        raise wire.param_error("gateway and netmask must be given together")
    async with call.ctx.db.conn() as conn:
        cidrs = await lookups.zone_cidrs(conn, call["zoneid"])
    # the zone's IPv4 networks as sorted address ranges; the first /24 from the default
    # that none of them covers
    taken = sorted(
        (int(n.network_address), int(n.broadcast_address))
        for n in map(ipaddress.ip_network, cidrs)
        if n.version == 4
    )
    candidate = int(ipaddress.IPv4Address(DEFAULT_CIDR.split("/")[0]))
    for first, last in taken:
        if last < candidate:
            continue
        if first > candidate + 255:
            break
        candidate = (last // 256 + 1) * 256  # past this network, on a /24 boundary
    if candidate > int(ipaddress.IPv4Address("10.255.255.0")):
        raise wire.param_error("no free /24 in 10.0.0.0/8 in this zone: give gateway and netmask")
    return f"{ipaddress.IPv4Address(candidate)}/24"


@command(
    "createNetwork",
    "Creates a guest network (an account's isolated network, or a zone's shared one)",
    P("name", "string", required=True),
    P("displaytext", "string"),
    P("networkofferingid", "uuid", required=True),
    P("zoneid", "uuid", required=True),
    P("gateway", "string"),
    P("netmask", "string"),
    P("startip", "string"),
    P("endip", "string"),
    P("vlan", "string", description="not supported: the physical network allocates it"),
    *ACCOUNT,
    item="network",
    response=("id", "name", "type", "cidr", "state"),
)
async def create_network(call: Call) -> dict[str, Any]:
    if call.get("vlan"):
        raise wire.param_error("vlan is not supported: the physical network allocates segments")
    async with call.ctx.db.conn() as conn:
        kind = await lookups.offering_kind(conn, call["networkofferingid"])
    if kind is None:
        raise wire.param_error(
            f"Invalid parameter networkofferingid value={call['networkofferingid']} due to "
            "incorrect long value format, or entity does not exist"
        )
    owner = await owner_of_request(call)
    body = NetworkCreate(
        zone_id=call["zoneid"],
        name=call["name"],
        kind=kind,
        cidr=await _cidr(call),
        gateway=call.get("gateway"),
        ip_start=call.get("startip"),
        ip_end=call.get("endip"),
        is_default=False,
        offering_id=call["networkofferingid"],
        owner=owner or None,
    )
    created = await guest_networks.create(call.ctx, body)
    return {"network": await read_network(call, created.id)}


@command(
    "deleteNetwork",
    "Deletes a guest network",
    ID,
    P("forced", "boolean"),
    is_async=True,
    response=("success",),
)
async def delete_network(call: Call) -> dict[str, Any]:
    accepted = await guest_networks.delete(call.ctx, call["id"], None)
    return await call.job(accepted, "Network", call["id"], result={"success": True})


@command(
    "restartNetwork",
    "Restarts a network's router (cleanup=true: a new one)",
    ID,
    P("cleanup", "boolean"),
    is_async=True,
    response=("success",),
)
async def restart_network(call: Call) -> dict[str, Any]:
    body = guest_networks.NetworkRestart(cleanup=bool(call.get("cleanup")))
    accepted = await guest_networks.restart(call.ctx, call["id"], body, None)
    return await call.job(accepted, "Network", call["id"])


@command(
    "listPublicIpAddresses",
    "Lists the public IP addresses allocated to accounts",
    *OWNED,
    P("ipaddress", "string"),
    P("zoneid", "uuid"),
    P("associatednetworkid", "uuid"),
    P("isstaticnat", "boolean"),
    P("issourcenat", "boolean"),
    P("allocatedonly", "boolean"),
    P("vpcid", "uuid"),
    item="publicipaddress",
    action="public-ip.list",
    response=("id", "ipaddress", "state", "associatednetworkid", "isstaticnat"),
)
async def list_public_ips(call: Call) -> dict[str, Any]:
    if call.get("vpcid") is not None:
        return {}
    filters: list[tuple[str, Any]] = []
    if call.get("ipaddress"):
        filters.append(("host(t.address) = {}", call["ipaddress"]))
    for param, column in (("zoneid", "t.zone_id"), ("associatednetworkid", "t.network_id")):
        if call.get(param) is not None:
            filters.append((f"{column} = {{}}", call[param]))
    if call.get("isstaticnat") is not None:
        filters.append(("(t.static_nat_vm_id IS NOT NULL) = {}", call["isstaticnat"]))
    if call.get("issourcenat") is not None:
        filters.append(("t.source_nat = {}", call["issourcenat"]))
    return await answer_list(
        call, sv.PUBLIC_IPS, "publicipaddress", filters=filters, shape=render.public_ip
    )


@command(
    "associateIpAddress",
    "Allocates a public IP address to an account's network",
    P("zoneid", "uuid"),
    P("networkid", "uuid"),
    P("ipaddress", "string", description="not supported (431): the next free one is taken"),
    P("vpcid", "uuid"),
    *ACCOUNT,
    is_async=True,
    item="ipaddress",
    response=("id", "ipaddress", "state", "associatednetworkid"),
)
async def associate_ip(call: Call) -> dict[str, Any]:
    if call.get("vpcid") is not None:
        raise wire.param_error("VPCs are not supported")
    if call.get("ipaddress"):
        raise wire.param_error(
            "ipaddress is not supported: the zone's next free address is allocated"
        )
    zone = call.get("zoneid")
    if zone is None and call.get("networkid") is not None:
        async with call.ctx.db.conn() as conn:
            zone = await lookups.zone_of_network(conn, call["networkid"])
    if zone is None:
        raise wire.param_error("Either zoneid or networkid must be specified")
    body = net.PublicIpAcquire(
        zone_id=zone, network_id=call.get("networkid"), owner=await owner_of_request(call)
    )
    ip, op = await net.acquire_ip(call.ctx, body)
    return await jobs.applied(call, op, "IpAddress", ip.id)


@command(
    "disassociateIpAddress",
    "Releases a public IP address",
    ID,
    is_async=True,
    response=("success",),
)
async def disassociate_ip(call: Call) -> dict[str, Any]:
    _, op = await net.release_ip(call.ctx, call["id"])
    return await jobs.applied(call, op, "IpAddress", call["id"])
