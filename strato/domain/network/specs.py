"""What the network subsystem is asked to implement."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator


class DesignRequest(BaseModel):
    cidr: str
    gateway: str | None = None
    ip_start: str | None = None
    ip_end: str | None = None


class NetworkDesign(BaseModel):
    """A network as designed: its subnet, gateway and address range (``count`` of them),
    the isolation of its segment (None: it has none) and its NICs' MTU."""

    cidr: str
    gateway: str
    ip_start: str
    ip_end: str
    count: int
    isolation: Literal["VLAN", "VXLAN"] | None
    mtu: int = 1500


def mac_for(vm_id: UUID, device: int) -> str:
    """A locally administered unicast MAC, deterministic (a retried allocation makes the
    same NIC): the gurus' MAC policy."""
    digest = hashlib.sha256(f"{vm_id}:{device}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


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
    # Counted up by the database on every change to the network: an element that has
    # applied a newer spec ignores an older one arriving late (0: always applied).
    generation: int = 0


class SecurityRule(BaseModel):
    """One allowed flow of a port's security groups: new connections ``ingress`` to the
    port from ``cidrs`` or ``egress`` from it to them (a rule naming another group is
    given as its members' addresses)."""

    direction: Literal["ingress", "egress"]
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start: int | None = Field(default=None, ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535)
    cidrs: list[str] = []

    @model_validator(mode="after")
    def _ports(self) -> SecurityRule:
        if (self.start is None) != (self.end is None):
            raise ValueError("a port range has a start and an end")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        self.cidrs = [str(ipaddress.IPv4Network(c, strict=False)) for c in self.cidrs]
        return self


class PortSecurity(BaseModel):
    """A port's security groups, whole: only its own address leaves it, DHCP always
    passes, new connections pass only as ``rules`` allow (egress: any while it has no
    egress rule), replies to allowed ones always."""

    ip_address: str
    rules: list[SecurityRule] = []


class PortSpec(BaseModel):
    """A port for a guest's NIC. ``kind``: a veth pair whose guest side is handed over
    (a namespace guest), or a tap device a hypervisor opens (a VM). ``security``: its
    security groups (None: the port is open, a network without the service)."""

    network: str
    mac: str
    ip_address: str | None = None
    vm_name: str = ""
    kind: Literal["veth", "tap"] = "veth"
    security: PortSecurity | None = None


class RouterFence(BaseModel):
    """A router to remove from a host unless one newer than ``generation`` is there."""

    network: str
    generation: int = 0


class PruneInput(BaseModel):
    """The network's ports on a host but ``keep`` (MACs) unplugged."""

    network: str
    keep: list[str] = []


class PortInfo(BaseModel):
    network: str
    mac: str
    device: str


Mac = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
Hostname = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
]
Domain = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,250}[A-Za-z0-9])?$"),
]


@functools.lru_cache(maxsize=8192)  # rulesets repeat their addresses
def _ipv4(value: str) -> str:
    return str(ipaddress.IPv4Address(value))


@functools.lru_cache(maxsize=8192)  # rulesets repeat their addresses
def _ipv4_net(value: str) -> str:
    return str(ipaddress.IPv4Network(value, strict=False))


@functools.lru_cache(maxsize=8192)  # rulesets repeat their addresses
def _ipv4_iface(value: str) -> str:
    return str(ipaddress.IPv4Interface(value))


# What reaches a router's ruleset and its dnsmasq files is parsed here, never pasted.
Ip = Annotated[str, AfterValidator(_ipv4)]
Cidr = Annotated[str, AfterValidator(_ipv4_net)]
IpWithPrefix = Annotated[str, AfterValidator(_ipv4_iface)]


class DhcpHost(BaseModel):
    """A guest the router answers: its address (from IPAM) and name, by MAC."""

    mac: Mac
    ip: Ip
    hostname: Hostname


class RouterPublic(BaseModel):
    """The router's public side: its address on the public segment (``a.b.c.d/n``), the
    public gateway, and the public segment's VLAN tag (0: untagged)."""

    address: IpWithPrefix
    gateway: Ip
    tag: int = Field(default=0, ge=0, le=4094)


class PortForward(BaseModel):
    """Connections to ``public_ip``:``public_port`` (through ``public_end``) forwarded to
    ``private_ip``:``private_port`` (the same number of ports, in order)."""

    public_ip: Ip
    protocol: Literal["tcp", "udp"]
    public_port: int = Field(ge=1, le=65535)
    public_end: int = Field(ge=1, le=65535)
    private_ip: Ip
    private_port: int = Field(ge=1, le=65535)

    @model_validator(mode="after")
    def _ranges(self) -> PortForward:
        span = self.public_end - self.public_port
        if span < 0 or self.private_port + span > 65535:
            raise ValueError("public_port..public_end must ascend and fit the private ports")
        return self


class StaticNat(BaseModel):
    """One public address for one guest, both ways."""

    public_ip: Ip
    private_ip: Ip


class FirewallRule(BaseModel):
    """Ingress allowed to ``public_ip`` from ``cidrs``: a protocol and, for tcp/udp, a
    port range (CloudStack's firewall rule; everything else new from outside is dropped)."""

    public_ip: Ip
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start: int | None = Field(default=None, ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535)
    cidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1)

    @model_validator(mode="after")
    def _ports(self) -> FirewallRule:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class GuestMetadata(BaseModel):
    """What the router's metadata service tells the guest at ``ip`` about itself."""

    ip: Ip
    instance_id: str
    hostname: Hostname
    public_ip: Ip | None = None
    zone: str = ""
    public_keys: list[str] = []


class UserData(BaseModel):
    """Guests' user data (base64, by address) for a network's router; ``whole``: the
    router keeps none but these."""

    network: str
    entries: dict[str, str] = {}
    whole: bool = False


class EgressRule(BaseModel):
    """New connections from the guests to ``cidrs`` (a protocol; tcp/udp: a port range):
    an exception to the network's egress default."""

    protocol: Literal["tcp", "udp", "icmp", "all"]
    start: int | None = Field(default=None, ge=1, le=65535)
    end: int | None = Field(default=None, ge=1, le=65535)
    cidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1)


class RouterSpec(BaseModel):
    """A guest network's virtual router, whole: applied as it is (never as a delta)."""

    network: str
    tag: int = Field(ge=0, le=4094)  # the guest segment's VLAN tag (0: untagged)
    cidr: Cidr
    address: Ip  # the router's address on the guest network (the guests' gateway)
    domain: Domain = "cloud.internal"
    hosts: list[DhcpHost] = []
    public: RouterPublic | None = None
    # More public addresses of the network (acquired IPs), on the public side too.
    public_ips: list[Ip] = []
    port_forwards: list[PortForward] = []
    static_nats: list[StaticNat] = []
    firewall: list[FirewallRule] = []
    # Egress: new connections from the guests out pass (``allow``) or are dropped
    # (``deny``) unless an egress rule says otherwise.
    egress_default: Literal["allow", "deny"] = "allow"
    egress: list[EgressRule] = []
    # The guest network itself: the router's host implements it first and attaches the
    # router with the network's tag there (a VXLAN network's tag is the host's own).
    net: NetworkSpec | None = None
    generation: int = 0  # as NetworkSpec.generation: an older spec arriving late is ignored
    mtu: int = Field(default=1500, ge=576, le=9000)  # given to the guests by DHCP
    # Its metadata service (169.254.169.254 and its own address, port 80): each guest's
    # (none: no service). User data comes apart (:class:`UserData`): it may be large.
    metadata: list[GuestMetadata] = []


def router_digest(spec: RouterSpec) -> str:
    """What a router is, as a digest: its spec but for what the host or the moment adds
    (its tag here, the network's spec, the generation). The doctor compares the digest
    of the router a host runs with one of the router the database describes."""
    body = spec.model_dump_json(exclude={"tag", "net", "generation"})
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class RouterInfo(BaseModel):
    network: str
    namespace: str
    dnsmasq_pid: int | None = None
    hosts: int = 0
    public_address: str | None = None
    generation: int = 0  # the generation the router has applied
    digest: str = ""  # router_digest of the spec it has applied
    skipped: bool = False  # the spec was older than what the router has
