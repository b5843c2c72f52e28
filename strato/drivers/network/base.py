"""The network-element contract: make a guest network exist on a host and plug ports.
Post-conditions and idempotency are stated per method; ``tests/drivers/
test_network_contract.py`` holds every implementation to them.

Errors::

    NetworkError            the element failed (a tool, the switch); retrying may help
     +-- NetworkMissing     the network is not implemented on this host: permanent
     +-- SegmentInvalid     the spec's segment cannot be used (not an id, out of range)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar

from strato.domain.network.specs import (
    NetworkSpec,
    PortInfo,
    PortSpec,
    RouterInfo,
    RouterSpec,
    UserData,
)

# What an element can provide for the networks it implements.
CAPABILITIES = (
    "switching",
    "vlan",
    "vxlan",
    "dhcp",
    "dns",
    "source_nat",
    "static_nat",
    "port_forwarding",
    "firewall",
    "security_groups",
)


class NetworkError(RuntimeError):
    """The element failed; retrying may help."""


class NetworkMissing(NetworkError):
    """The network is not implemented on this host."""


class SegmentInvalid(NetworkError):
    """The network's segment cannot be used by this element."""


class NetworkElement(abc.ABC):
    name: str = "abstract"
    capabilities: ClassVar[Mapping[str, bool]] = {}

    @abc.abstractmethod
    async def implement_network(self, spec: NetworkSpec) -> None:
        """Post-condition: the network's segment exists on this host; ports plugged into
        it reach each other and no port of another network. Idempotent."""

    @abc.abstractmethod
    async def tag_of(self, network: str) -> int:
        """The network's VLAN tag on this host's switch (0: untagged); what a router's
        guest port gets. NetworkMissing if the network is not implemented here."""

    @abc.abstractmethod
    async def shutdown_network(self, name: str, generation: int = 0) -> None:
        """Post-condition: nothing of the network remains on this host (its ports
        included), unless a spec of it newer than ``generation`` was applied here (then
        nothing changes: a later operation wants it here). Missing is fine."""

    @abc.abstractmethod
    async def plug(self, port: PortSpec) -> PortInfo:
        """Post-condition: a port with ``port.mac`` is on the network, its ``device`` the
        guest side to hand to the guest. Idempotent by MAC. NetworkMissing if the network
        is not implemented here."""

    @abc.abstractmethod
    async def unplug(self, network: str, mac: str) -> None:
        """Post-condition: no port with ``mac`` on ``network``. Missing is fine."""

    @abc.abstractmethod
    async def list_ports(self, network: str) -> list[PortInfo]:
        """Ports currently on ``network``."""


class Router(abc.ABC):
    """A guest network's router on one host (DHCP, DNS, NAT, firewall): applied whole
    from its :class:`RouterSpec`, never as a delta. A spec whose ``generation`` is older
    than the one applied is ignored (its ``RouterInfo.skipped``)."""

    name: str = "abstract"

    @abc.abstractmethod
    async def apply(self, spec: RouterSpec) -> RouterInfo:
        """Post-condition: the router is exactly ``spec`` (unless a newer one was applied).
        Idempotent."""

    @abc.abstractmethod
    async def put_user_data(self, data: UserData) -> None:
        """Post-condition: the metadata service serves each entry's user data to its
        guest (``whole``: no other guest's). Idempotent."""

    @abc.abstractmethod
    async def destroy(self, network: str, generation: int = 0) -> None:
        """Post-condition: nothing of the router remains on this host, unless one newer
        than ``generation`` was applied here (then nothing changes). Missing is fine."""

    @abc.abstractmethod
    async def status(self, network: str) -> RouterInfo | None:
        """The router as it runs here, None if it does not."""

    @abc.abstractmethod
    def applied(self) -> list[str]:
        """The networks whose router this host has."""
