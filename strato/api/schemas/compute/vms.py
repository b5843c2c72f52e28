"""VMs, affinity groups, networks."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from strato.api.schemas.common import Filter, Name, Request, Text
from strato.commands.compute import VmDeploy, VmDestroy, VmScale, VmStop
from strato.domain.compute.models import Vm
from strato.domain.network.models import Nic
from strato.domain.states import VmState
from strato.domain.storage.models import Volume

Owner = Text

__all__ = ["VmDeploy", "VmDestroy", "VmScale", "VmStop"]


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
    cidr: str = Field(max_length=64)
    gateway: str | None = Field(default=None, max_length=64)
    ip_start: str = Field(max_length=64)
    ip_end: str = Field(max_length=64)
    is_default: bool = True


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
    free_addresses: int = 0
