"""Zones, pods, clusters, hosts, storage pools."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from strato.api.schemas.common import (
    Bytes,
    Filter,
    Int32,
    Name,
    Ratio,
    Request,
    Share,
    Tags,
    Text,
    Url,
)
from strato.commands.fabric import HostCreate
from strato.domain.states import AllocationState, HostStatus, PoolState, ResourceState

__all__ = ["HostCreate"]

Hypervisor = Literal["kvm", "simulator"]


class ZoneCreate(Request):
    name: Name
    description: Text = ""
    network_type: Literal["Basic", "Advanced"] = "Advanced"
    dns1: Text | None = None
    internal_dns1: Text | None = None


class ZoneUpdate(Request):
    name: Name | None = None
    description: Text | None = None
    dns1: Text | None = None
    internal_dns1: Text | None = None
    state: AllocationState | None = None


class ZoneFilter(Filter):
    name: Name | None = None
    state: AllocationState | None = None


class PodCreate(Request):
    zone_id: UUID
    name: Name
    gateway: Text | None = None
    netmask: Text | None = None


class PodUpdate(Request):
    name: Name | None = None
    gateway: Text | None = None
    netmask: Text | None = None
    state: AllocationState | None = None


class PodFilter(Filter):
    zone_id: UUID | None = None
    name: Name | None = None
    state: AllocationState | None = None


class ClusterCreate(Request):
    pod_id: UUID
    name: Name
    hypervisor: Hypervisor
    cpu_overcommit_ratio: Ratio = 1.0
    memory_overcommit_ratio: Ratio = 1.0
    cpu_disable_threshold: Share = 1.0
    memory_disable_threshold: Share = 1.0


class ClusterUpdate(Request):
    name: Name | None = None
    cpu_overcommit_ratio: Ratio | None = None
    memory_overcommit_ratio: Ratio | None = None
    state: AllocationState | None = None
    cpu_disable_threshold: Share | None = None
    memory_disable_threshold: Share | None = None


class ClusterFilter(Filter):
    zone_id: UUID | None = None
    pod_id: UUID | None = None
    name: Name | None = None
    hypervisor: Hypervisor | None = None
    state: AllocationState | None = None


class HostUpdate(Request):
    resource_state: Literal["Enabled", "Disabled"] | None = None
    tags: Tags | None = None
    cpu_reserved_mhz: Int32 | None = None
    memory_reserved_mb: Int32 | None = None
    tunnel_ip: IPv4Address | None = None


class HostFilter(Filter):
    zone_id: UUID | None = None
    pod_id: UUID | None = None
    cluster_id: UUID | None = None
    name: Name | None = None
    hypervisor: Hypervisor | None = None
    status: HostStatus | None = None
    resource_state: ResourceState | None = None


class StoragePoolCreate(Request):
    name: Name
    scope: Literal["cluster", "zone"] = "cluster"
    cluster_id: UUID | None = None
    zone_id: UUID | None = None
    driver: Literal["qcow2", "simulator"]
    url: Url = ""
    capacity_bytes: Bytes
    overprovisioning_factor: Ratio = 1.0
    tags: Tags = Field(default_factory=list)

    @model_validator(mode="after")
    def _file_pool_has_a_path(self) -> StoragePoolCreate:
        if self.driver == "qcow2" and not (
            self.url.startswith("file:///") or self.url.startswith("/")
        ):
            raise ValueError("a qcow2 pool needs url file:///<absolute directory path>")
        return self


class StoragePoolUpdate(Request):
    capacity_bytes: Bytes | None = None
    overprovisioning_factor: Ratio | None = None
    tags: Tags | None = None
    state: PoolState | None = None


class StoragePoolFilter(Filter):
    zone_id: UUID | None = None
    cluster_id: UUID | None = None
    name: Name | None = None
    scope: Literal["cluster", "zone"] | None = None
    driver: Literal["qcow2", "simulator"] | None = None
    state: PoolState | None = None
