"""In-memory network element with latency and injected faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from strato.domain.network.specs import NetworkSpec, PortInfo, PortSpec
from strato.drivers.faults import FaultPlan
from strato.drivers.network.base import NetworkElement, NetworkMissing


class SimulatorNetworkElement(NetworkElement):
    name = "simulator"
    capabilities: ClassVar[Mapping[str, bool]] = {"switching": True, "vlan": True}

    def __init__(self, host_name: str, *, faults: FaultPlan | None = None) -> None:
        self.host_name = host_name
        self.faults = faults or FaultPlan()
        self.networks: dict[str, NetworkSpec] = {}
        self.ports: dict[str, dict[str, PortInfo]] = {}

    async def implement_network(self, spec: NetworkSpec) -> None:
        await self.faults.call("implement_network", self.host_name)
        self.networks[spec.name] = spec
        self.ports.setdefault(spec.name, {})

    async def shutdown_network(self, name: str) -> None:
        await self.faults.call("shutdown_network", self.host_name)
        self.networks.pop(name, None)
        self.ports.pop(name, None)

    async def plug(self, port: PortSpec) -> PortInfo:
        await self.faults.call("plug", self.host_name)
        if port.network not in self.networks:
            raise NetworkMissing(f"network {port.network} is not implemented on {self.host_name}")
        ports = self.ports[port.network]
        if port.mac not in ports:
            ports[port.mac] = PortInfo(
                network=port.network, mac=port.mac, device=f"sim{len(ports)}"
            )
        return ports[port.mac]

    async def unplug(self, network: str, mac: str) -> None:
        await self.faults.call("unplug", self.host_name)
        self.ports.get(network, {}).pop(mac, None)

    async def list_ports(self, network: str) -> list[PortInfo]:
        return list(self.ports.get(network, {}).values())
