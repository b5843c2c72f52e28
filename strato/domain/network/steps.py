"""The network subsystem's steps.

Host steps: a host's network agent (``network@<host>``) makes guest networks, ports and
virtual routers exist there. Local steps (the orchestrator's data service): what they
should be, read from the database (:mod:`strato.schema.network.plans`).
"""

from __future__ import annotations

from strato.domain.network.payloads import (
    NetworkOpInput,
    NetworkResult,
    PlugInput,
    PortsPlan,
    SecurityGroupOpInput,
    UnplugInput,
    UnplugPortsInput,
    VmHostInput,
)
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
from strato.domain.steps import Step

IMPLEMENT_NETWORK: Step[NetworkSpec, None] = Step("network.implement", NetworkSpec, None)
IMPLEMENT_NETWORKS: Step[list[NetworkSpec], None] = Step(
    "network.implement_all", list[NetworkSpec], None
)
SHUTDOWN_NETWORK: Step[str, None] = Step("network.shutdown", str, None)
# The network removed from a host unless a newer spec of it was applied there since.
SHUTDOWN_NETWORK_AT: Step[NetworkSpec, None] = Step("network.shutdown_at", NetworkSpec, None)
PLUG_PORT: Step[PortSpec, PortInfo] = Step("network.plug", PortSpec, PortInfo)
PLUG_PORTS: Step[PlugInput, list[PortInfo]] = Step("network.plug_all", PlugInput, list[PortInfo])
UNPLUG_PORT: Step[UnplugInput, None] = Step("network.unplug", UnplugInput, None)
UNPLUG_PORTS: Step[UnplugPortsInput, None] = Step("network.unplug_all", UnplugPortsInput, None)
LIST_PORTS: Step[str, list[PortInfo]] = Step("network.list_ports", str, list[PortInfo])
PRUNE_PORTS: Step[PruneInput, list[str]] = Step("network.prune_ports", PruneInput, list[str])
APPLY_ROUTER: Step[RouterSpec, RouterInfo] = Step("network.apply_router", RouterSpec, RouterInfo)
DESTROY_ROUTER: Step[str, None] = Step("network.destroy_router", str, None)
DESTROY_ROUTER_AT: Step[RouterFence, None] = Step("network.destroy_router_at", RouterFence, None)
PUT_USER_DATA: Step[UserData, None] = Step("network.put_user_data", UserData, None)
ROUTER_STATUS: Step[str, RouterInfo | None] = Step("network.router_status", str, RouterInfo | None)

# Local steps (orchestrator).
NETWORK_VM_JOINS: Step[VmHostInput, PortsPlan] = Step(
    "records.network_vm_joins", VmHostInput, PortsPlan
)
NETWORK_VM_LEAVES: Step[VmHostInput, PortsPlan] = Step(
    "records.network_vm_leaves", VmHostInput, PortsPlan
)
NETWORK_PLAN: Step[NetworkOpInput, PortsPlan] = Step(
    "records.network_plan", NetworkOpInput, PortsPlan
)
NETWORK_DONE: Step[NetworkOpInput, NetworkResult] = Step(
    "records.network_done", NetworkOpInput, NetworkResult
)
NETWORK_SG_PLAN: Step[SecurityGroupOpInput, PortsPlan] = Step(
    "records.network_sg_plan", SecurityGroupOpInput, PortsPlan
)
