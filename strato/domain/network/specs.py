"""What the network subsystem is asked to implement."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class NetworkSpec(BaseModel):
    """A guest network as an element implements it on one host. ``segment``: its VLAN id,
    or with ``isolation`` VXLAN its VNI; ``peers``: the underlay addresses of the other
    hosts that have ports on it (a VXLAN network's tunnels go to them)."""

    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    segment: str | None = None
    isolation: Literal["VLAN", "VXLAN"] = "VLAN"
    peers: list[str] = []


class PortSpec(BaseModel):
    network: str
    mac: str
    ip_address: str | None = None
    vm_name: str = ""


class PortInfo(BaseModel):
    network: str
    mac: str
    device: str


class DhcpHost(BaseModel):
    """A guest the router answers: its address (from IPAM) and name, by MAC."""

    mac: str
    ip: str
    hostname: str


class RouterPublic(BaseModel):
    """The router's public side: its address on the public segment (``a.b.c.d/n``), the
    public gateway, and the public segment's VLAN tag (0: untagged)."""

    address: str
    gateway: str
    tag: int = 0


class PortForward(BaseModel):
    """Connections to ``public_ip``:``public_port`` (through ``public_end``) forwarded to
    ``private_ip``:``private_port`` (the same number of ports, in order)."""

    public_ip: str
    protocol: Literal["tcp", "udp"]
    public_port: int = Field(ge=1, le=65535)
    public_end: int = Field(ge=1, le=65535)
    private_ip: str
    private_port: int = Field(ge=1, le=65535)


class StaticNat(BaseModel):
    """One public address for one guest, both ways."""

    public_ip: str
    private_ip: str


class FirewallRule(BaseModel):
    """Ingress allowed to ``public_ip`` from ``cidrs``: a protocol and, for tcp/udp, a
    port range (CloudStack's firewall rule; everything else new from outside is dropped)."""

    public_ip: str
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start: int | None = Field(default=None, ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535)
    cidrs: list[str] = ["0.0.0.0/0"]


class RouterSpec(BaseModel):
    """A guest network's virtual router, whole: applied as it is (never as a delta)."""

    network: str
    tag: int  # the guest segment's VLAN tag (0: untagged)
    cidr: str
    address: str  # the router's address on the guest network (the guests' gateway)
    domain: str = "cloud.internal"
    hosts: list[DhcpHost] = []
    public: RouterPublic | None = None
    # More public addresses of the network (acquired IPs), on the public side too.
    public_ips: list[str] = []
    port_forwards: list[PortForward] = []
    static_nats: list[StaticNat] = []
    firewall: list[FirewallRule] = []


class RouterInfo(BaseModel):
    network: str
    namespace: str
    dnsmasq_pid: int | None = None
    hosts: int = 0
    public_address: str | None = None
