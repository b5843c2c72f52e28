"""What the network subsystem is asked to implement."""

from __future__ import annotations

from pydantic import BaseModel


class NetworkSpec(BaseModel):
    """A guest network as an element implements it on one host."""

    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    segment: str | None = None


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


class RouterSpec(BaseModel):
    """A guest network's virtual router, whole: applied as it is (never as a delta)."""

    network: str
    tag: int  # the guest segment's VLAN tag (0: untagged)
    cidr: str
    address: str  # the router's address on the guest network (the guests' gateway)
    domain: str = "cloud.internal"
    hosts: list[DhcpHost] = []
    public: RouterPublic | None = None


class RouterInfo(BaseModel):
    network: str
    namespace: str
    dnsmasq_pid: int | None = None
    hosts: int = 0
    public_address: str | None = None
