"""The rules of segment ranges and public IP ranges, checked before anything is written."""

from __future__ import annotations

import ipaddress

from strato.domain.errors import InvalidInput

# The ids a segment can have: 802.1Q VLAN ids (0 and 4095 are reserved), VXLAN's 24-bit VNI.
VNET_LIMITS = {"VLAN": (1, 4094), "VXLAN": (1, (1 << 24) - 1)}
# A VXLAN network's guests' MTU: a 1500-byte underlay less VXLAN's 50 bytes of headers.
MTU = {"VLAN": 1500, "VXLAN": 1450}
# One range is one row per id (as CloudStack's op_dc_vnet_alloc): bounded.
MAX_RANGE = 1 << 16


def check_vnets(isolation: str, start: int, end: int) -> None:
    low, high = VNET_LIMITS[isolation]
    if not low <= start <= end <= high:
        raise InvalidInput(
            f"vnets {start}-{end}: a {isolation} range lies within {low}-{high}, start <= end",
            field="start",
        )
    if end - start + 1 > MAX_RANGE:
        raise InvalidInput(
            f"vnets {start}-{end}: at most {MAX_RANGE} ids in one range", field="end"
        )


def check_public_range(gateway: str, netmask: str, start: str, end: str) -> str:
    """The range's network (``a.b.c.d/n``) once the range is valid: start and end in the
    gateway's subnet, start <= end, at most :data:`MAX_RANGE` addresses, the gateway and
    the subnet's network and broadcast addresses outside it."""
    try:
        net = ipaddress.IPv4Network(f"{gateway}/{netmask}", strict=False)
        first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
        gw = ipaddress.IPv4Address(gateway)
    except ValueError as err:  # IPv6 too: IPv4 only for now
        raise InvalidInput(f"public IP range (IPv4): {err}", field="netmask") from err
    for field, addr in (("start", first), ("end", last)):
        if addr not in net:
            raise InvalidInput(f"{field}: {addr} is not in the gateway's subnet {net}", field=field)
        if addr in (net.network_address, net.broadcast_address):
            raise InvalidInput(
                f"{field}: {addr} is the subnet's network or broadcast address", field=field
            )
    if first > last:
        raise InvalidInput(f"end: {last} is before start {first}", field="end")
    if first <= gw <= last:
        raise InvalidInput(f"gateway: {gw} lies inside the range {first}-{last}", field="gateway")
    if int(last) - int(first) + 1 > MAX_RANGE:
        raise InvalidInput(f"end: at most {MAX_RANGE} addresses in one range", field="end")
    return str(net)


def rule_ports(protocol: str, start: int | None, end: int | None) -> int | None:
    """A rule's end port, checked: a tcp/udp rule names its ports (``end`` defaults to
    ``start``, never before it); an icmp or ``all`` rule has none. ValueError says why."""
    if protocol in ("tcp", "udp"):
        if start is None:
            raise ValueError(f"start_port: a {protocol} rule names its ports")
        end = end or start
        if end < start:
            raise ValueError("end_port is before start_port")
        return end
    if start is not None or end is not None:
        raise ValueError(f"start_port: a {protocol} rule has no ports")
    return None


def subnet(cidr: str, field: str = "cidr") -> str:
    """``cidr`` as an IPv4 subnet (host bits zero). ValueError says why not."""
    try:
        return str(ipaddress.IPv4Network(cidr, strict=True))
    except ValueError as err:
        raise ValueError(f"{field}: {cidr!r} is not an IPv4 subnet ({err})") from err
