"""In-memory network element and routers with latency and injected faults. With a
``state_file`` they outlive their agent (as a real host's switch and router namespaces
outlive a killed network agent): every change is saved before the call returns."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import strato.drivers.simstate as simstate
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

    def __init__(
        self, host_name: str, *, faults: FaultPlan | None = None, state_file: Path | None = None
    ) -> None:
        self.host_name = host_name
        self.faults = faults or FaultPlan()
        self.state_file = state_file
        saved = simstate.load(state_file) or {}
        self.networks: dict[str, NetworkSpec] = {
            k: NetworkSpec.model_validate(v) for k, v in saved.get("networks", {}).items()
        }
        self.ports: dict[str, dict[str, PortInfo]] = {
            net: {mac: PortInfo.model_validate(p) for mac, p in ports.items()}
            for net, ports in saved.get("ports", {}).items()
        }
        self.security: dict[str, PortSecurity | None] = {  # by MAC
            mac: PortSecurity.model_validate(s) if s else None
            for mac, s in saved.get("security", {}).items()
        }

    def _save(self) -> None:
        simstate.save(
            self.state_file,
            {
                "networks": {k: v.model_dump() for k, v in self.networks.items()},
                "ports": {
                    n: {m: p.model_dump() for m, p in ports.items()}
                    for n, ports in self.ports.items()
                },
                "security": {m: s.model_dump() if s else None for m, s in self.security.items()},
            },
        )

    async def implement_network(self, spec: NetworkSpec) -> None:
        await self.faults.call("implement_network", self.host_name)
        have = self.networks.get(spec.name)
        if have is not None and spec.generation and have.generation > spec.generation:
            return  # a newer spec was applied
        self.networks[spec.name] = spec
        self.ports.setdefault(spec.name, {})
        self._save()

    async def tag_of(self, network: str) -> int:
        if network not in self.networks:
            raise NetworkMissing(f"network {network} is not implemented on {self.host_name}")
        segment = self.networks[network].segment
        return int(segment) if segment and segment.isdigit() else 0

    async def shutdown_network(self, name: str, generation: int = 0) -> None:
        await self.faults.call("shutdown_network", self.host_name)
        have = self.networks.get(name)
        if have is not None and generation and have.generation > generation:
            return  # implemented again by a newer operation
        self.networks.pop(name, None)
        self.ports.pop(name, None)
        self._save()

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
        self._save()
        return ports[port.mac]

    async def unplug(self, network: str, mac: str) -> None:
        await self.faults.call("unplug", self.host_name)
        self.ports.get(network, {}).pop(mac, None)
        self.security.pop(mac, None)
        self._save()

    async def list_ports(self, network: str) -> list[PortInfo]:
        return list(self.ports.get(network, {}).values())


class SimulatorRouter(Router):
    """Routers as records: the spec each network's router was last applied with."""

    name = "simulator"

    def __init__(
        self, host_name: str, *, faults: FaultPlan | None = None, state_file: Path | None = None
    ) -> None:
        self.host_name = host_name
        self.faults = faults or FaultPlan()
        self.state_file = state_file
        saved = simstate.load(state_file) or {}
        self.routers: dict[str, RouterSpec] = {
            k: RouterSpec.model_validate(v) for k, v in saved.get("routers", {}).items()
        }
        # network -> address -> base64
        self.user_data: dict[str, dict[str, str]] = saved.get("user_data", {})

    def _save(self) -> None:
        simstate.save(
            self.state_file,
            {
                "routers": {k: v.model_dump() for k, v in self.routers.items()},
                "user_data": self.user_data,
            },
        )

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
        self._save()
        return self._info(spec)

    async def put_user_data(self, data: UserData) -> None:
        await self.faults.call("put_user_data", self.host_name)
        have = {} if data.whole else self.user_data.get(data.network, {})
        self.user_data[data.network] = {**have, **data.entries}
        self._save()

    async def destroy(self, network: str, generation: int = 0) -> None:
        await self.faults.call("destroy_router", self.host_name)
        have = self.routers.get(network)
        if have is not None and generation and have.generation > generation:
            return  # applied again by a newer operation
        self.routers.pop(network, None)
        self.user_data.pop(network, None)
        self._save()

    async def status(self, network: str) -> RouterInfo | None:
        spec = self.routers.get(network)
        return self._info(spec) if spec is not None else None

    def applied(self) -> list[str]:
        return sorted(self.routers)
