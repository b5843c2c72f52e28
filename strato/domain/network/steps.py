"""The network subsystem's steps: a host's network agent (``network@<host>``) makes guest
networks, ports and virtual routers exist there."""

from __future__ import annotations

from strato.domain.network.payloads import UnplugInput
from strato.domain.network.specs import NetworkSpec, PortInfo, PortSpec, RouterInfo, RouterSpec
from strato.domain.steps import Step

IMPLEMENT_NETWORK: Step[NetworkSpec, None] = Step("network.implement", NetworkSpec, None)
SHUTDOWN_NETWORK: Step[str, None] = Step("network.shutdown", str, None)
PLUG_PORT: Step[PortSpec, PortInfo] = Step("network.plug", PortSpec, PortInfo)
UNPLUG_PORT: Step[UnplugInput, None] = Step("network.unplug", UnplugInput, None)
LIST_PORTS: Step[str, list[PortInfo]] = Step("network.list_ports", str, list[PortInfo])
APPLY_ROUTER: Step[RouterSpec, RouterInfo] = Step("network.apply_router", RouterSpec, RouterInfo)
DESTROY_ROUTER: Step[str, None] = Step("network.destroy_router", str, None)
ROUTER_STATUS: Step[str, RouterInfo | None] = Step("network.router_status", str, RouterInfo | None)
