"""VMs, affinity groups, networks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from strato.api.schemas.common import Filter, Name, Request, Text
from strato.commands.compute import VmDeploy, VmDestroy, VmMigrate, VmScale, VmStop
from strato.domain.compute.models import Vm
from strato.domain.network.models import Nic
from strato.domain.states import VmState
from strato.domain.storage.models import Volume

Owner = Text

__all__ = ["VmDeploy", "VmDestroy", "VmMigrate", "VmScale", "VmStop"]


class VmFilter(Filter):
    zone_id: UUID | None = None
    host_id: UUID | None = None
    state: VmState | None = None
    owner: Owner | None = None
    name: Name | None = None
    service_offering_id: UUID | None = None


class VmDetail(Vm):
    host_name: str | None = None
    nics: list[Nic] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)


class AffinityGroupCreate(Request):
    name: Name
    owner: Owner = ""
    kind: Literal["host-affinity", "host-anti-affinity"]
    strict: bool = True


class AffinityGroupUpdate(Request):
    strict: bool | None = None


class AffinityGroupFilter(Filter):
    owner: Owner | None = None
    name: Name | None = None
    kind: Literal["host-affinity", "host-anti-affinity"] | None = None


class NetworkCreate(Request):
    zone_id: UUID
    name: Name
    kind: Literal["shared", "isolated"] = "shared"
    cidr: str = Field(max_length=64)
    gateway: str | None = Field(default=None, max_length=64)  # the first host by default
    ip_start: str | None = Field(default=None, max_length=64)  # after the gateway
    ip_end: str | None = Field(default=None, max_length=64)  # the last host
    is_default: bool = True  # a shared network only: the zone's default
    offering_id: UUID | None = None
    physical_network_id: UUID | None = None
    owner: str | None = Field(default=None, max_length=255)
    # New connections from its guests out: allowed unless an egress rule blocks them, or
    # denied unless one allows them.
    egress_default: Literal["allow", "deny"] = "allow"


class NetworkView(BaseModel):
    id: UUID
    zone_id: UUID
    name: str
    kind: str
    cidr: str | None
    gateway: str | None
    ip_start: str | None
    ip_end: str | None
    is_default: bool
    state: str
    offering_id: UUID | None = None
    physical_network_id: UUID | None = None
    owner: str | None = None
    free_addresses: int = 0
    # Once Implemented (its first VM): its segment id (VLAN or VNI), its router's host,
    # and the generation of what its devices should be.
    segment: str | None = None
    router_host_id: UUID | None = None
    generation: int = 0
    implemented_at: datetime | None = None
    egress_default: str = "allow"


NetworkService = Literal[
    "Dhcp",
    "Dns",
    "SourceNat",
    "StaticNat",
    "PortForwarding",
    "Firewall",
    "UserData",
    "SecurityGroup",
]


class NetworkOfferingCreate(Request):
    name: Name
    display_text: Text = ""
    guest_type: Literal["Isolated", "Shared"]
    services: list[NetworkService] = Field(default_factory=list, max_length=8)

    @field_validator("services")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each service at most once")
        return value


class NetworkOfferingUpdate(Request):
    display_text: Text | None = None
    state: Literal["Enabled", "Disabled"] | None = None


class NetworkOfferingFilter(Filter):
    name: Name | None = None
    guest_type: Literal["Isolated", "Shared"] | None = None
