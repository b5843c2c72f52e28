"""The network subsystem's admin and allocation commands: physical networks and their
segment ranges, public IP ranges, and public IPs acquired and released. Each is one
transaction (nothing to run on a host yet); bad input changes nothing.

Refused here: a range outside what its isolation allows (VLAN 1-4094, VXLAN 1-2^24-1), a
range overlapping another (vnets of the same physical network, public addresses of the
zone), a public range whose addresses are not in its gateway's subnet or hold the
gateway, a physical network of another zone or that carries no public traffic, removing
vnets or a range that something holds, releasing an address that is not allocated or is
a network's source NAT; no free address left (409 addresses-exhausted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from strato.commands import guest_networks
from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.commands.guest_networks import Once
from strato.commands.templates import zone_exists
from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.fields import Name, Request, Text
from strato.domain.network.models import (
    EgressRule,
    FirewallRule,
    PhysicalNetwork,
    PortForwardingRule,
    PublicIp,
    PublicIpRange,
)
from strato.domain.network.ranges import check_public_range, check_vnets, rule_ports, subnet
from strato.schema import repository
from strato.schema.network import ipam, physical, public_ips, rules
from strato.schema.network.physical import PHYSICAL_NETWORKS

TrafficType = Literal["guest", "public", "management"]
Address = Annotated[str, StringConstraints(min_length=1, max_length=64)]
T = TypeVar("T")
Vlan = Annotated[str, StringConstraints(pattern=r"^(untagged|[1-9][0-9]{0,3})$")]


class VnetRange(Request):
    start: int = Field(ge=1, le=(1 << 24) - 1)
    end: int = Field(ge=1, le=(1 << 24) - 1)


class PhysicalNetworkCreate(Request):
    zone_id: UUID
    name: Name
    isolation: Literal["VLAN", "VXLAN"] = "VLAN"
    traffic_types: Annotated[list[TrafficType], Field(min_length=1, max_length=3)] = ["guest"]
    vnets: VnetRange | None = None


class PhysicalNetworkView(PhysicalNetwork):
    """A physical network with its vnet ranges and how many ids of each are taken."""

    vnets: list[dict[str, int]] = []


class PublicIpRangeCreate(Request):
    zone_id: UUID
    physical_network_id: UUID | None = None
    vlan: Vlan = "untagged"
    gateway: Address
    netmask: Address
    start: Address
    end: Address

    @field_validator("vlan")
    @classmethod
    def _vlan_id(cls, value: str) -> str:
        if value != "untagged" and not 1 <= int(value) <= 4094:
            raise ValueError("a VLAN id is 1-4094 (or 'untagged')")
        return value


class PublicIpAcquire(Request):
    zone_id: UUID
    network_id: UUID | None = None
    owner: Text = ""


async def view(conn: Any, pn_id: UUID) -> PhysicalNetworkView:
    pn: PhysicalNetwork = await repository.get(conn, PHYSICAL_NETWORKS, pn_id)
    return PhysicalNetworkView(**pn.model_dump(), vnets=await physical.ranges(conn, pn_id))


async def create_physical_network(
    ctx: CommandContext, body: PhysicalNetworkCreate
) -> PhysicalNetworkView:
    await ctx.authorize(Action("physical-network.create", "physical_network"))
    if len(set(body.traffic_types)) != len(body.traffic_types):
        raise InvalidInput("traffic_types: each at most once", field="traffic_types")
    if body.vnets is not None:
        check_vnets(body.isolation, body.vnets.start, body.vnets.end)
    async with ctx.db.tx() as conn:
        await zone_exists(conn, body.zone_id)
        values = body.model_dump(exclude={"vnets"})
        pn: PhysicalNetwork = await repository.insert(conn, PHYSICAL_NETWORKS, values)
        if body.vnets is not None:
            await physical.add_vnets(conn, pn.id, body.vnets.start, body.vnets.end)
        return await view(conn, pn.id)


async def add_vnets(ctx: CommandContext, pn_id: UUID, body: VnetRange) -> PhysicalNetworkView:
    await ctx.authorize(Action("physical-network.update", "physical_network", pn_id))
    async with ctx.db.tx() as conn:
        pn = await physical.lock(conn, pn_id)
        check_vnets(pn.isolation, body.start, body.end)
        await physical.add_vnets(conn, pn_id, body.start, body.end)
        return await view(conn, pn_id)


async def remove_vnets(ctx: CommandContext, pn_id: UUID, body: VnetRange) -> PhysicalNetworkView:
    await ctx.authorize(Action("physical-network.update", "physical_network", pn_id))
    async with ctx.db.tx() as conn:
        await physical.lock(conn, pn_id)
        if await physical.remove_vnets(conn, pn_id, body.start, body.end) == 0:
            raise InvalidInput(f"vnets {body.start}-{body.end}: none of them is in a range")
        return await view(conn, pn_id)


async def delete_physical_network(ctx: CommandContext, pn_id: UUID) -> None:
    await ctx.authorize(Action("physical-network.delete", "physical_network", pn_id))
    async with ctx.db.tx() as conn:
        await physical.lock(conn, pn_id)
        held = await physical.drop_free(conn, pn_id)
        if held:
            raise Conflict(f"physical network {pn_id}: networks hold {held} of its vnets")
        await repository.delete(conn, PHYSICAL_NETWORKS, pn_id)


async def create_public_range(ctx: CommandContext, body: PublicIpRangeCreate) -> PublicIpRange:
    await ctx.authorize(Action("public-ip-range.create", "public_ip_range"))
    cidr = check_public_range(body.gateway, body.netmask, body.start, body.end)
    async with ctx.db.tx() as conn:
        await zone_exists(conn, body.zone_id)
        if body.physical_network_id is not None:
            await _public_carrier(conn, body.physical_network_id, body.zone_id)
        values: dict[str, Any] = {
            "zone_id": body.zone_id,
            "physical_network_id": body.physical_network_id,
            "vlan": body.vlan,
            "gateway": body.gateway,
            "cidr": cidr,
            "ip_start": body.start,
            "ip_end": body.end,
        }
        return await public_ips.create_range(conn, values)


async def _public_carrier(conn: Any, pn_id: UUID, zone_id: UUID) -> None:
    try:
        pn: PhysicalNetwork = await repository.get(conn, PHYSICAL_NETWORKS, pn_id)
    except NotFound as err:
        raise InvalidInput(
            f"physical_network_id: {err.detail}", field="physical_network_id"
        ) from err
    if pn.zone_id != zone_id:
        raise InvalidInput(
            f"physical_network_id: {pn.name} is in another zone", field="physical_network_id"
        )
    if "public" not in pn.traffic_types:
        raise InvalidInput(
            f"physical_network_id: {pn.name} carries no public traffic "
            f"({', '.join(pn.traffic_types)})",
            field="physical_network_id",
        )


async def delete_public_range(ctx: CommandContext, range_id: UUID) -> None:
    await ctx.authorize(Action("public-ip-range.delete", "public_ip_range", range_id))
    async with ctx.db.tx() as conn:
        await public_ips.delete_range(conn, range_id)


Applied = tuple[T, UUID | None]  # a change's result and its ApplyNetwork operation, if any


def _once(
    ctx: CommandContext,
    key: str | None,
    what: str,
    body: Request,
    model: type[BaseModel],
    **ids: Any,
) -> Once | None:
    """The idempotency of a change that creates at once (None: no key given). The key
    is the caller's own, as an operation's is."""
    if key is None:
        return None
    request = {"what": what, **{k: str(v) for k, v in ids.items()}, **body.model_dump(mode="json")}
    return Once(f"{ctx.caller_scope}/{key}", request, model)


async def acquire_ip(
    ctx: CommandContext, body: PublicIpAcquire, idempotency_key: str | None = None
) -> Applied[PublicIp]:
    await ctx.authorize(Action("public-ip.acquire", "public_ip"))
    body = ctx.owned_by_caller(body)

    async def change(conn: Any) -> PublicIp:
        await zone_exists(conn, body.zone_id)
        if body.network_id is not None:
            try:
                net = await ipam.get_network(conn, body.network_id)
            except NotFound as err:
                raise InvalidInput(f"network_id: {err.detail}", field="network_id") from err
            if net.zone_id != body.zone_id:
                raise InvalidInput("network_id: the network is in another zone", field="network_id")
            if ctx.caller.owners is not None and not ctx.caller.sees(net.owner):
                # A shared network's router is the cloud's: an account's addresses go on
                # its own networks.
                raise InvalidInput("network_id: not a network of yours", field="network_id")
        ip = await public_ips.acquire(conn, body.zone_id, body.owner, body.network_id)
        await ctx.take(conn, body.owner, "public_ip")
        return ip

    once = _once(ctx, idempotency_key, "public-ip.acquire", body, PublicIp)
    return await guest_networks.changed(ctx, _const(body.network_id), change, once)


def _const(network_id: UUID | None) -> Callable[[Any], Awaitable[UUID | None]]:
    async def network_of(_conn: Any) -> UUID | None:
        return network_id

    return network_of


class _Touched:
    """The network a change touched, noted by the change (for its ApplyNetwork)."""

    def __init__(self) -> None:
        self.network_id: UUID | None = None

    async def __call__(self, _conn: Any) -> UUID | None:
        return self.network_id


async def release_ip(ctx: CommandContext, ip_id: UUID) -> Applied[PublicIp]:
    await ctx.authorize(Action("public-ip.release", "public_ip", ip_id))
    touched = _Touched()

    async def change(conn: Any) -> PublicIp:
        touched.network_id = await rules.network_of_ip(conn, ip_id)
        return await public_ips.release(conn, ip_id)

    return await guest_networks.changed(ctx, touched, change)


Protocol = Literal["tcp", "udp"]
Port = Annotated[int, Field(ge=1, le=65535)]


class PortForwardCreate(Request):
    vm_id: UUID
    protocol: Protocol
    public_start: Port
    public_end: Port | None = None  # = public_start
    private_start: Port
    private_end: Port | None = None  # = private_start + the public span

    @model_validator(mode="after")
    def _spans(self) -> PortForwardCreate:
        public_end = self.public_end or self.public_start
        span = public_end - self.public_start
        private_end = self.private_end or self.private_start + span
        if span < 0 or private_end - self.private_start != span or private_end > 65535:
            raise ValueError(
                "public_start..public_end must ascend and match private_start..private_end"
            )
        self.public_end, self.private_end = public_end, private_end
        return self


class FirewallRuleCreate(Request):
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start_port: Port | None = None
    end_port: Port | None = None
    cidrs: Annotated[list[str], Field(min_length=1, max_length=64)] = ["0.0.0.0/0"]

    @model_validator(mode="after")
    def _checked(self) -> FirewallRuleCreate:
        self.end_port = rule_ports(self.protocol, self.start_port, self.end_port)
        self.cidrs = [subnet(cidr, "cidrs") for cidr in self.cidrs]
        return self


class EgressRuleCreate(Request):
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start_port: Port | None = None
    end_port: Port | None = None
    cidrs: Annotated[list[str], Field(min_length=1, max_length=64)] = ["0.0.0.0/0"]

    @model_validator(mode="after")
    def _checked(self) -> EgressRuleCreate:
        self.end_port = rule_ports(self.protocol, self.start_port, self.end_port)
        self.cidrs = [subnet(cidr, "cidrs") for cidr in self.cidrs]
        return self


class StaticNatEnable(Request):
    vm_id: UUID


async def add_port_forward(
    ctx: CommandContext, ip_id: UUID, body: PortForwardCreate, idempotency_key: str | None = None
) -> Applied[PortForwardingRule]:
    await ctx.authorize(Action("public-ip.port-forward", "public_ip", ip_id))
    touched = _Touched()

    async def change(conn: Any) -> PortForwardingRule:
        ip = await rules.lock_ip(conn, ip_id)
        touched.network_id = ip.network_id
        values = body.model_dump(exclude={"vm_id"})
        return await rules.add_port_forward(conn, ip, body.vm_id, values)

    once = _once(ctx, idempotency_key, "port-forward", body, PortForwardingRule, ip=ip_id)
    return await guest_networks.changed(ctx, touched, change, once)


async def add_firewall_rule(
    ctx: CommandContext, ip_id: UUID, body: FirewallRuleCreate, idempotency_key: str | None = None
) -> Applied[FirewallRule]:
    await ctx.authorize(Action("public-ip.firewall", "public_ip", ip_id))
    touched = _Touched()

    async def change(conn: Any) -> FirewallRule:
        ip = await rules.lock_ip(conn, ip_id, for_network=False)
        touched.network_id = ip.network_id
        return await rules.add_firewall(conn, ip, body.model_dump())

    once = _once(ctx, idempotency_key, "firewall", body, FirewallRule, ip=ip_id)
    return await guest_networks.changed(ctx, touched, change, once)


async def delete_rule(ctx: CommandContext, kind: str, rule_id: UUID) -> UUID | None:
    """The rule gone; the ApplyNetwork operation that takes it off the router, if any."""
    spec = rules.PORT_FORWARDS if kind == "port_forwarding_rule" else rules.FIREWALL
    await ctx.authorize(Action(f"{kind.replace('_', '-')}.delete", kind, rule_id))
    touched = _Touched()

    async def change(conn: Any) -> None:
        touched.network_id = await rules.network_of_rule(conn, spec, rule_id)
        await rules.delete_rule(conn, spec, rule_id)

    _, op = await guest_networks.changed(ctx, touched, change)
    return op


async def static_nat(
    ctx: CommandContext, ip_id: UUID, body: StaticNatEnable | None
) -> Applied[PublicIp]:
    """Enable (``body``) or disable (None) static NAT on a public IP."""
    await ctx.authorize(Action("public-ip.static-nat", "public_ip", ip_id))
    touched = _Touched()

    async def change(conn: Any) -> PublicIp:
        ip = await rules.lock_ip(conn, ip_id)
        touched.network_id = ip.network_id
        if body is None:
            return await rules.disable_static_nat(conn, ip)
        return await rules.enable_static_nat(conn, ip, body.vm_id)

    return await guest_networks.changed(ctx, touched, change)


async def add_egress_rule(
    ctx: CommandContext, network_id: UUID, body: EgressRuleCreate
) -> Applied[EgressRule]:
    """An egress rule of a network (an exception to its egress default)."""
    await ctx.authorize(Action("network.egress", "network", network_id))

    async def change(conn: Any) -> EgressRule:
        net = await ipam.get_network(conn, network_id)
        if net.state == "Destroy":
            raise Conflict(f"network {net.name} is being deleted")
        rule: EgressRule = await repository.insert(
            conn, rules.EGRESS, {**body.model_dump(), "network_id": network_id}
        )
        return rule

    return await guest_networks.changed(ctx, _const(network_id), change)


async def delete_egress_rule(ctx: CommandContext, rule_id: UUID) -> UUID | None:
    await ctx.authorize(Action("egress-rule.delete", "egress_rule", rule_id))
    touched = _Touched()

    async def change(conn: Any) -> None:
        rule: EgressRule = await repository.get(conn, rules.EGRESS, rule_id)
        touched.network_id = rule.network_id
        await repository.delete(conn, rules.EGRESS, rule_id)

    _, op = await guest_networks.changed(ctx, touched, change)
    return op
