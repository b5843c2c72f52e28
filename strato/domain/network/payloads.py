"""Workflow and activity inputs/results of NICs and guest networks: one input model and one
result model each.

Imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.network.specs import (
    NetworkSpec,
    PortSpec,
    PruneInput,
    RouterInfo,
    RouterSpec,
    UserData,
)


class NicInfo(BaseModel):
    mac: str
    ip_address: str | None = None
    network_name: str = ""
    # On a network with a physical network: its port is plugged by the host's network
    # agent (an element), not left to the hypervisor.
    managed: bool = False
    device: str = ""  # the port's guest side once plugged (a tap for a VM)


class UnplugInput(BaseModel):
    network: str
    mac: str


class PlugInput(BaseModel):
    """Ports to plug on one host, with the networks they are on (implemented first)."""

    networks: list[NetworkSpec] = []
    ports: list[PortSpec] = []
    # Only the ports that are plugged already (their security updated): what another
    # VM's change asks of ports it does not own, which must not bring back a port its
    # own VM unplugged meanwhile.
    only_plugged: bool = False


class UnplugPortsInput(BaseModel):
    ports: list[UnplugInput] = []


class RouterJob(BaseModel):
    """A router to apply, whole, on ``host``."""

    host: str
    spec: RouterSpec


class HostNetworks(BaseModel):
    """Networks to implement (again) on ``host``: a VXLAN network's tunnels follow its
    hosts."""

    host: str
    networks: list[NetworkSpec] = []


class UserDataJob(BaseModel):
    host: str
    data: UserData


class HostPlug(BaseModel):
    """Ports on ``host`` plugged again (their security groups changed: a plug converges)."""

    host: str
    plug: PlugInput


class HostPrune(BaseModel):
    host: str
    prune: PruneInput


class PortsPlan(BaseModel):
    """What a VM's NICs need on ``host``: its ports plugged (their networks implemented
    there), the routers of those networks applied, the other hosts' tunnels updated."""

    host: str = ""
    plug: PlugInput = Field(default_factory=PlugInput)
    unplug: UnplugPortsInput = Field(default_factory=UnplugPortsInput)
    routers: list[RouterJob] = []
    peers: list[HostNetworks] = []
    destroy_routers: list[RouterJob] = []  # routers to remove first (a restart with cleanup)
    shutdown: list[HostNetworks] = []  # networks to remove from hosts
    resecure: list[HostPlug] = []  # other ports whose security groups changed
    user_data: list[UserDataJob] = []  # for routers' metadata services, after the routers
    prune: list[HostPrune] = []  # ports the database does not know, unplugged (a restart)
    generation: int = 0  # the network's, for a plan of one network's operation

    def empty(self) -> bool:
        return not (
            self.plug.ports
            or self.plug.networks
            or self.unplug.ports
            or self.routers
            or self.peers
            or self.destroy_routers
            or self.shutdown
            or self.resecure
            or self.user_data
            or self.prune
        )


class VmHostInput(BaseModel):
    vm_id: UUID
    host_id: UUID | None = None
    operation_id: UUID | None = None
    expunging: bool = False  # the VM's leases and rules leave its networks' routers


class NetworkOpInput(BaseModel):
    """An operation on a guest network: apply its router, restart (``cleanup``: the
    router rebuilt from nothing), shut it down, or delete it."""

    network_id: UUID
    operation_id: UUID | None = None
    mode: Literal["apply", "restart", "shutdown", "destroy"] = "apply"
    cleanup: bool = False


class SecurityGroupOpInput(BaseModel):
    """Its members' ports (and those of groups naming it) secured again, whole."""

    group_id: UUID
    operation_id: UUID | None = None


class NetworkResult(BaseModel):
    network_id: UUID
    state: str
    generation: int = 0


class NetworkProbe(BaseModel):
    """`strato doctor` asks ``host``'s network agent about ``network``: its router (if
    ``router``) and its ports."""

    host: str
    network: str
    router: bool = False


class NetworkInventory(BaseModel):
    host: str
    network: str
    router: RouterInfo | None = None
    ports: list[str] | None = None  # MACs; None: the agent did not answer
    error: str | None = None
