"""Network entities: guest networks and NICs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import field_validator

from strato.domain.models import Entity


def _address_text(value: Any) -> Any:
    """inet/cidr columns arrive as ipaddress objects; the API speaks text."""
    return None if value is None else str(value)


def _cidr_texts(value: Any) -> Any:
    """cidr[] columns arrive as lists of ipaddress objects."""
    return [str(v) for v in value] if isinstance(value, list) else value


class Nic(Entity):
    vm_id: UUID
    network_id: UUID
    mac: str
    ip_address: str | None = None
    device_id: int = 0
    is_default: bool = True
    state: str = "Allocated"

    _addr = field_validator("ip_address", mode="before")(_address_text)


class Network(Entity):
    zone_id: UUID
    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    ip_start: str | None = None
    ip_end: str | None = None
    segment: str | None = None
    owner: str | None = None
    is_default: bool = False
    state: str = "Allocated"
    offering_id: UUID | None = None
    physical_network_id: UUID | None = None
    # Once Implemented: the host its router runs on, and the generation of what its
    # devices should be (counted up on every change).
    router_host_id: UUID | None = None
    generation: int = 0
    implemented_at: datetime | None = None
    egress_default: str = "allow"

    _addr = field_validator("cidr", "gateway", "ip_start", "ip_end", mode="before")(_address_text)


class PhysicalNetwork(Entity):
    """A zone's physical network: how guest networks on it are isolated (VLAN or VXLAN)
    and the traffic types it carries (guest, public, management)."""

    zone_id: UUID
    name: str
    isolation: str = "VLAN"
    traffic_types: list[str] = ["guest"]
    state: str = "Enabled"


class PublicIpRange(Entity):
    """A range of a zone's public addresses (CloudStack's public VLAN IP range)."""

    zone_id: UUID
    physical_network_id: UUID | None = None
    vlan: str = "untagged"
    gateway: str
    cidr: str
    ip_start: str
    ip_end: str

    _addr = field_validator("gateway", "cidr", "ip_start", "ip_end", mode="before")(_address_text)


class PublicIp(Entity):
    """One public address: Free, or Allocated to an owner (for a network, once it has
    one; ``source_nat``: the network's source-NAT address)."""

    zone_id: UUID
    range_id: UUID
    address: str
    state: str = "Free"
    network_id: UUID | None = None
    owner: str | None = None
    source_nat: bool = False
    allocated_at: datetime | None = None
    # Static NAT: the VM this address is, and its address on the network.
    static_nat_vm_id: UUID | None = None
    static_nat_ip: str | None = None

    _addr = field_validator("address", "static_nat_ip", mode="before")(_address_text)


class NetworkOffering(Entity):
    """What a guest network of the offering gets: its guest type and its router's
    services (CloudStack's network offering)."""

    name: str
    display_text: str = ""
    guest_type: str
    services: list[str] = []
    state: str = "Enabled"


class PortForwardingRule(Entity):
    """Connections to a public IP's ports forwarded to a VM's address on the IP's network."""

    public_ip_id: UUID
    network_id: UUID
    vm_id: UUID
    protocol: str
    public_start: int
    public_end: int
    private_ip: str
    private_start: int
    private_end: int

    _addr = field_validator("private_ip", mode="before")(_address_text)


class FirewallRule(Entity):
    """Ingress to a public IP allowed from ``cidrs`` (a protocol; tcp/udp: a port range)."""

    public_ip_id: UUID
    protocol: str
    start_port: int | None = None
    end_port: int | None = None
    cidrs: list[str] = ["0.0.0.0/0"]

    _cidrs = field_validator("cidrs", mode="before")(_cidr_texts)


class SecurityGroup(Entity):
    """An owner's security group (CloudStack's): its VMs' ports accept new connections
    only as its ingress rules allow, and open them as its egress rules allow (any, while
    it has none)."""

    owner: str = ""
    name: str
    description: str = ""


class SecurityGroupRule(Entity):
    security_group_id: UUID
    direction: str
    protocol: str
    start_port: int | None = None
    end_port: int | None = None
    cidr: str | None = None
    remote_group_id: UUID | None = None

    _addr = field_validator("cidr", mode="before")(_address_text)


class EgressRule(Entity):
    """New connections from a network's guests to ``cidrs``: an exception to the
    network's egress default (blocked if it allows, allowed if it denies)."""

    network_id: UUID
    protocol: str
    start_port: int | None = None
    end_port: int | None = None
    cidrs: list[str] = ["0.0.0.0/0"]

    _cidrs = field_validator("cidrs", mode="before")(_cidr_texts)
