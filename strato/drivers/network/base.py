"""The network-element contract: make a guest network exist on a host and plug ports."""

from __future__ import annotations

import abc

from strato.domain.network.specs import NetworkSpec, PortInfo, PortSpec


class NetworkElement(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    async def implement_network(self, spec: NetworkSpec) -> None:
        """Post-condition: the network's segment exists on this host. Idempotent."""

    @abc.abstractmethod
    async def shutdown_network(self, name: str) -> None:
        """Post-condition: nothing of the network remains on this host. Missing is fine."""

    @abc.abstractmethod
    async def plug(self, port: PortSpec) -> PortInfo:
        """Post-condition: a port with ``port.mac`` is on the network. Idempotent by MAC."""

    @abc.abstractmethod
    async def unplug(self, network: str, mac: str) -> None:
        """Post-condition: no port with ``mac`` on ``network``. Missing is fine."""

    @abc.abstractmethod
    async def list_ports(self, network: str) -> list[PortInfo]:
        """Ports currently on ``network``."""
