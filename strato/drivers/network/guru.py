"""The network-guru contract (CloudStack's NetworkGuru): how a guest network of one kind
is designed, before anything is written, and what its NICs get.

* :meth:`NetworkGuru.design`: the network's subnet, gateway and address range from a
  request (defaults filled, everything checked) and the kind of segment it needs.
* :meth:`NetworkGuru.segment_bounds`: the ids its segments can have.
* :meth:`NetworkGuru.mac`: a NIC's MAC, the same for a retried allocation.
* :meth:`NetworkGuru.address_order`: the order a NIC's address is taken in.

Atomic allocation (one segment id or address, never twice under concurrency) is the
database's (``schema/network``); a guru decides what is allocated, not how. Gurus:

* ``flat``: no segment (a zone's network without a physical network);
* ``vlan``: a VLAN id 1-4094;
* ``vxlan``: a VNI 1-16777215 (its NICs' MTU leaves room for the 50-byte header).

Errors: :class:`strato.domain.errors.InvalidInput`, naming the field, and nothing written.
"""

from __future__ import annotations

import abc
import ipaddress
from typing import ClassVar, Literal
from uuid import UUID

from strato.domain.errors import InvalidInput
from strato.domain.network.ranges import MTU, VNET_LIMITS
from strato.domain.network.specs import DesignRequest, NetworkDesign, mac_for

MAX_RANGE = 65_536


class NetworkGuru(abc.ABC):
    name: ClassVar[str] = "abstract"
    isolation: ClassVar[Literal["VLAN", "VXLAN"] | None] = None
    mtu: ClassVar[int] = 1500

    def design(self, req: DesignRequest) -> NetworkDesign:
        """The network as it will be, or InvalidInput. The range defaults to the
        subnet's hosts after the gateway (itself the first host by default); refused: an
        address outside the subnet, a gateway inside the range or on the subnet's network
        or broadcast address, more than :data:`MAX_RANGE` addresses."""
        try:
            cidr = ipaddress.ip_network(req.cidr, strict=True)
            gateway = ipaddress.ip_address(req.gateway or str(cidr.network_address + 1))
            start = ipaddress.ip_address(req.ip_start or str(gateway + 1))
            end = ipaddress.ip_address(req.ip_end or str(cidr.broadcast_address - 1))
        except ValueError as err:
            raise InvalidInput(f"cidr: {err}", field="cidr") from err
        if cidr.version != 4 or cidr.prefixlen > 30:
            raise InvalidInput(
                f"cidr: {cidr} is not an IPv4 subnet of 4 addresses or more", field="cidr"
            )
        hosts = (int(cidr.network_address) + 1, int(cidr.broadcast_address) - 1)
        if gateway not in cidr or not hosts[0] <= int(gateway) <= hosts[1]:
            raise InvalidInput(
                f"gateway: {gateway} is not a host address of {cidr}", field="gateway"
            )
        if start not in cidr or end not in cidr or int(end) < int(start):
            raise InvalidInput(f"ip_start..ip_end must be an ascending range inside {cidr}")
        if not (hosts[0] <= int(start) and int(end) <= hosts[1]):
            raise InvalidInput(f"ip_start..ip_end must be host addresses of {cidr}")
        count = int(end) - int(start) + 1
        if count > MAX_RANGE:
            raise InvalidInput(f"a range holds at most {MAX_RANGE} addresses, not {count}")
        if int(start) <= int(gateway) <= int(end):
            raise InvalidInput(f"gateway {gateway} must not be inside the allocation range")
        return NetworkDesign(
            cidr=str(cidr),
            gateway=str(gateway),
            ip_start=str(start),
            ip_end=str(end),
            count=count,
            isolation=self.isolation,
            mtu=self.mtu,
        )

    @abc.abstractmethod
    def segment_bounds(self) -> tuple[int, int] | None:
        """The ids a segment of this kind can have (None: it has no segment)."""

    def mac(self, vm_id: UUID, device: int) -> str:
        """A locally administered unicast MAC, deterministic: a retried allocation makes
        the same NIC."""
        return mac_for(vm_id, device)

    def address_order(self) -> Literal["lowest"]:
        """Addresses are taken lowest first (the database's SKIP LOCKED allocation)."""
        return "lowest"


class FlatGuru(NetworkGuru):
    name = "flat"

    def segment_bounds(self) -> None:
        return None


class VlanGuru(NetworkGuru):
    name = "vlan"
    isolation = "VLAN"

    def segment_bounds(self) -> tuple[int, int]:
        return VNET_LIMITS["VLAN"]  # 802.1Q: 0 and 4095 are reserved


class VxlanGuru(NetworkGuru):
    name = "vxlan"
    isolation = "VXLAN"
    mtu = MTU["VXLAN"]  # a 1500-byte underlay less VXLAN's 50 bytes

    def segment_bounds(self) -> tuple[int, int]:
        return VNET_LIMITS["VXLAN"]


GURUS: dict[str | None, NetworkGuru] = {None: FlatGuru(), "VLAN": VlanGuru(), "VXLAN": VxlanGuru()}


def guru_for(isolation: str | None) -> NetworkGuru:
    """The guru of a network on a physical network of ``isolation`` (None: flat)."""
    return GURUS[isolation]
