"""In-memory network element with latency and injected faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from strato.domain.network.specs import (
    NetworkSpec,
    PortInfo,
    PortSecurity,
    PortSpec,
    RouterInfo,
    RouterSpec,
    UserData,
    router_digest,
)
from strato.drivers.faults import FaultPlan
from strato.drivers.network.base import NetworkElement, NetworkMissing, Router


class SimulatorNetworkElement(NetworkElement):
    name = "simulator"
    capabilities: ClassVar[Mapping[str, bool]] = {
        "switching": True,
        "vlan": True,
        "security_groups": True,
    }

    def __init__(self, host_name: str, *, faults: FaultPlan | None = None) -> None:
        self.host_name = host_name
        self.faults = faults or FaultPlan()
        self.networks: dict[str, NetworkSpec] = {}
        self.ports: dict[str, dict[str, PortInfo]] = {}
        self.security: dict[str, PortSecurity | None] = {}  # by MAC

    async def implement_network(self, spec: NetworkSpec) -> None:
        await self.faults.call("implement_network", self.host_name)
        have = self.networks.get(spec.name)
        if have is not None and spec.generation and have.generation > spec.generation:
            return  # a newer spec was applied
        self.networks[spec.name] = spec
        self.ports.setdefault(spec.name, {})

    async def tag_of(self, network: str) -> int:
        if network not in self.networks:
            raise NetworkMissing(f"network {network} is not implemented on {self.host_name}")
        segment = self.networks[network].segment
        return int(segment) if segment and segment.isdigit() else 0

    async def shutdown_network(self, name: str) -> None:
        await self.faults.call("shutdown_network", self.host_name)
        self.networks.pop(name, None)
        self.ports.pop(name, None)

    async def plug(self, port: PortSpec) -> PortInfo:
        await self.faults.call("plug", self.host_name)
        if port.network not in self.networks:
            raise NetworkMissing(f"network {port.network} is not implemented on {self.host_name}")
        ports = self.ports[port.network]
        self.security[port.mac] = port.security
        if port.mac not in ports:
            ports[port.mac] = PortInfo(
                network=port.network, mac=port.mac, device=f"sim{len(ports)}"
            )
        return ports[port.mac]

    async def unplug(self, network: str, mac: str) -> None:
        await self.faults.call("unplug", self.host_name)
        self.ports.get(network, {}).pop(mac, None)
        self.security.pop(mac, None)

    async def list_ports(self, network: str) -> list[PortInfo]:
        return list(self.ports.get(network, {}).values())


class SimulatorRouter(Router):
    """Routers as records: the spec each network's router was last applied with."""

    name = "simulator"

    def __init__(self, host_name: str, *, faults: FaultPlan | None = None) -> None:
        self.host_name = host_name
        self.faults = faults or FaultPlan()
        self.routers: dict[str, RouterSpec] = {}
        self.user_data: dict[str, dict[str, str]] = {}  # network -> address -> base64

    def _info(self, spec: RouterSpec, *, skipped: bool = False) -> RouterInfo:
        return RouterInfo(
            network=spec.network,
            namespace=f"sim-{spec.network}",
            hosts=len(spec.hosts),
            public_address=spec.public.address if spec.public else None,
            generation=spec.generation,
            skipped=skipped,
            digest=router_digest(spec),
        )

    async def apply(self, spec: RouterSpec) -> RouterInfo:
        await self.faults.call("apply_router", self.host_name)
        have = self.routers.get(spec.network)
        if have is not None and spec.generation and have.generation > spec.generation:
            return self._info(have, skipped=True)
        self.routers[spec.network] = spec
        return self._info(spec)

    async def put_user_data(self, data: UserData) -> None:
        await self.faults.call("put_user_data", self.host_name)
        have = {} if data.whole else self.user_data.get(data.network, {})
        self.user_data[data.network] = {**have, **data.entries}

    async def destroy(self, network: str) -> None:
        await self.faults.call("destroy_router", self.host_name)
        self.routers.pop(network, None)
        self.user_data.pop(network, None)

    async def status(self, network: str) -> RouterInfo | None:
        spec = self.routers.get(network)
        return self._info(spec) if spec is not None else None

    def applied(self) -> list[str]:
        return sorted(self.routers)
