"""The network agent's activities (queue ``network@<host>``): the host's element (Open
vSwitch) and its virtual routers. Each is idempotent, as its driver method is."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.beat import beating
from strato.activities.collect import activities_of
from strato.domain.network.payloads import PlugInput, UnplugInput, UnplugPortsInput
from strato.domain.network.specs import (
    NetworkSpec,
    PortInfo,
    PortSpec,
    PruneInput,
    RouterFence,
    RouterInfo,
    RouterSpec,
    UserData,
)
from strato.domain.network.steps import (
    APPLY_ROUTER,
    DESTROY_ROUTER,
    DESTROY_ROUTER_AT,
    IMPLEMENT_NETWORK,
    IMPLEMENT_NETWORKS,
    LIST_PORTS,
    PLUG_PORT,
    PLUG_PORTS,
    PRUNE_PORTS,
    PUT_USER_DATA,
    ROUTER_STATUS,
    SHUTDOWN_NETWORK,
    SHUTDOWN_NETWORK_AT,
    UNPLUG_PORT,
    UNPLUG_PORTS,
)
from strato.drivers.network.base import NetworkElement, Router


class NetworkActivities:
    def __init__(self, element: NetworkElement, router: Router) -> None:
        self.element = element
        self.router = router
        # One change at a time per port (by MAC): a plug of ports plugged already checks
        # and plugs with no unplug of the same port in between.
        self._ports: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _router(self, network: str) -> asyncio.Lock:
        """One change at a time to a network's router here (a removal checks the
        generation applied and removes with no apply in between)."""
        return self._port(f"router:{network}")

    def _port(self, mac: str) -> asyncio.Lock:
        lock = self._ports.get(mac)
        if lock is None:
            lock = self._ports[mac] = asyncio.Lock()
        return lock

    async def _plug(self, port: PortSpec, only_plugged: bool) -> PortInfo | None:
        async with self._port(port.mac):
            if only_plugged:
                here = {p.mac for p in await self.element.list_ports(port.network)}
                if port.mac not in here:
                    return None
            return await self.element.plug(port)

    async def _unplug(self, network: str, mac: str) -> None:
        async with self._port(mac):
            await self.element.unplug(network, mac)

    @activity.defn(name=IMPLEMENT_NETWORK.name)
    async def implement_network(self, spec: NetworkSpec) -> None:
        await beating(self.element.implement_network(spec))

    @activity.defn(name=IMPLEMENT_NETWORKS.name)
    async def implement_networks(self, specs: list[NetworkSpec]) -> None:
        for spec in specs:
            await beating(self.element.implement_network(spec))

    @activity.defn(name=SHUTDOWN_NETWORK.name)
    async def shutdown_network(self, name: str) -> None:
        await beating(self.element.shutdown_network(name))

    @activity.defn(name=SHUTDOWN_NETWORK_AT.name)
    async def shutdown_network_at(self, spec: NetworkSpec) -> None:
        """The network removed from this host, unless a newer operation implemented it
        here again since (its port would go with it)."""
        await beating(self.element.shutdown_network(spec.name, spec.generation))

    @activity.defn(name=PLUG_PORT.name)
    async def plug(self, port: PortSpec) -> PortInfo:
        async with self._port(port.mac):
            return await beating(self.element.plug(port))

    @activity.defn(name=PLUG_PORTS.name)
    async def plug_all(self, inp: PlugInput) -> list[PortInfo]:
        """The ports' networks implemented here, then the ports plugged (concurrently).
        ``only_plugged``: the ports that are not here are left alone (not returned)."""
        for spec in inp.networks:
            await beating(self.element.implement_network(spec))
        done = await beating(asyncio.gather(*(self._plug(p, inp.only_plugged) for p in inp.ports)))
        return [p for p in done if p is not None]

    @activity.defn(name=UNPLUG_PORT.name)
    async def unplug(self, inp: UnplugInput) -> None:
        await beating(self._unplug(inp.network, inp.mac))

    @activity.defn(name=UNPLUG_PORTS.name)
    async def unplug_all(self, inp: UnplugPortsInput) -> None:
        for port in inp.ports:
            await beating(self._unplug(port.network, port.mac))

    @activity.defn(name=LIST_PORTS.name)
    async def list_ports(self, network: str) -> list[PortInfo]:
        return await self.element.list_ports(network)

    @activity.defn(name=PRUNE_PORTS.name)
    async def prune_ports(self, inp: PruneInput) -> list[str]:
        """The network's ports here that are not to be kept, unplugged; their MACs."""
        extra = [p.mac for p in await self.element.list_ports(inp.network) if p.mac not in inp.keep]
        for mac in extra:
            await beating(self._unplug(inp.network, mac))
        return extra

    @activity.defn(name=APPLY_ROUTER.name)
    async def apply_router(self, spec: RouterSpec) -> RouterInfo:
        """The router exactly as ``spec`` says, whole (a retry converges). With the
        network's spec, the network is implemented here first and the router's guest
        port gets the network's tag on this host."""
        if spec.net is not None:
            await beating(self.element.implement_network(spec.net))
            spec = spec.model_copy(update={"tag": await self.element.tag_of(spec.net.name)})
        async with self._router(spec.network):
            return await beating(self.router.apply(spec))

    @activity.defn(name=PUT_USER_DATA.name)
    async def put_user_data(self, data: UserData) -> None:
        await beating(self.router.put_user_data(data))

    @activity.defn(name=DESTROY_ROUTER.name)
    async def destroy_router(self, network: str) -> None:
        async with self._router(network):
            await beating(self.router.destroy(network))

    @activity.defn(name=DESTROY_ROUTER_AT.name)
    async def destroy_router_at(self, fence: RouterFence) -> None:
        """A stale router removed, unless a newer one was applied here since."""
        async with self._router(fence.network):
            await beating(self.router.destroy(fence.network, fence.generation))

    @activity.defn(name=ROUTER_STATUS.name)
    async def router_status(self, network: str) -> RouterInfo | None:
        return await self.router.status(network)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
