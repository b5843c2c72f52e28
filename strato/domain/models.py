"""Persisted entities as the platform sees them (also their public shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from strato.domain.states import (
    AllocationState,
    HostStatus,
    OfferingState,
    PoolState,
    ResourceState,
    TemplateState,
    VmState,
    VolumeState,
)


class Entity(BaseModel):
    """Common columns: UUID key, optimistic-concurrency version, timestamps."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int = 1
    created_at: datetime
    updated_at: datetime


class Zone(Entity):
    name: str
    description: str = ""
    network_type: str = "Advanced"
    dns1: str | None = None
    internal_dns1: str | None = None
    planner: str = "first_fit"
    state: AllocationState = AllocationState.ENABLED


class Pod(Entity):
    zone_id: UUID
    name: str
    gateway: str | None = None
    netmask: str | None = None
    state: AllocationState = AllocationState.ENABLED


class Cluster(Entity):
    zone_id: UUID
    pod_id: UUID
    name: str
    hypervisor: str
    cpu_overcommit_ratio: float = 1.0
    memory_overcommit_ratio: float = 1.0
    state: AllocationState = AllocationState.ENABLED


class Host(Entity):
    zone_id: UUID
    pod_id: UUID
    cluster_id: UUID
    name: str
    hypervisor: str
    url: str = ""
    status: HostStatus = HostStatus.CREATING
    resource_state: ResourceState = ResourceState.ENABLED
    cpu_sockets: int = 0
    cpu_cores: int = 0
    cpu_speed_mhz: int = 0
    memory_total_mb: int = 0
    cpu_used_mhz: int = 0
    memory_used_mb: int = 0
    cpu_reserved_mhz: int = 0
    memory_reserved_mb: int = 0
    hypervisor_version: str = ""
    capabilities: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    last_error: str | None = None
    last_heartbeat_at: datetime | None = None
    agent_id: UUID | None = None


class StoragePool(Entity):
    zone_id: UUID
    pod_id: UUID | None = None
    cluster_id: UUID | None = None
    name: str
    scope: str = "cluster"
    driver: str
    url: str = ""
    capacity_bytes: int = 0
    allocated_bytes: int = 0
    used_bytes: int = 0
    overprovisioning_factor: float = 1.0
    tags: list[str] = Field(default_factory=list)
    state: PoolState = PoolState.UP


class ServiceOffering(Entity):
    name: str
    display_text: str = ""
    cpu_count: int
    cpu_speed_mhz: int
    memory_mb: int
    ha: bool = False
    host_tags: list[str] = Field(default_factory=list)
    storage_tags: list[str] = Field(default_factory=list)
    planner: str | None = None
    state: OfferingState = OfferingState.ACTIVE


class DiskOffering(Entity):
    name: str
    display_text: str = ""
    size_gb: int | None = None
    custom_size: bool = False
    provisioning: str = "thin"
    storage_tags: list[str] = Field(default_factory=list)
    state: OfferingState = OfferingState.ACTIVE


class Template(Entity):
    name: str
    display_text: str = ""
    zone_id: UUID | None = None
    format: str = "qcow2"
    os_type: str = "Other Linux (64-bit)"
    url: str = ""
    checksum: str | None = None
    size_bytes: int = 0
    is_public: bool = True
    featured: bool = False
    boot: dict[str, Any] = Field(default_factory=dict)
    state: TemplateState = TemplateState.READY


class Vm(Entity):
    name: str
    display_name: str = ""
    zone_id: UUID
    host_id: UUID | None = None
    last_host_id: UUID | None = None
    service_offering_id: UUID
    template_id: UUID
    owner: str = ""
    cpu_count: int
    cpu_speed_mhz: int
    memory_mb: int
    state: VmState = VmState.ALLOCATED
    last_error: str | None = None
    current_operation_id: UUID | None = None
    current_operation_kind: str | None = None
    root_volume_id: UUID | None = None
    destroyed_at: datetime | None = None
    expunge_at: datetime | None = None
    console: dict[str, Any] | None = None


class Volume(Entity):
    name: str
    zone_id: UUID
    pool_id: UUID | None = None
    vm_id: UUID | None = None
    kind: str
    size_bytes: int
    format: str = "qcow2"
    path: str | None = None
    disk_offering_id: UUID | None = None
    template_id: UUID | None = None
    owner: str = ""
    state: VolumeState = VolumeState.ALLOCATED


def _address_text(value: Any) -> Any:
    """inet/cidr columns arrive as ipaddress objects; the API speaks text."""
    return None if value is None else str(value)


class Nic(Entity):
    vm_id: UUID
    network_id: UUID
    mac: str
    ip_address: str | None = None
    device_id: int = 0
    is_default: bool = True
    state: str = "Allocated"

    _addr = field_validator("ip_address", mode="before")(_address_text)


class Network(Entity):
    zone_id: UUID
    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    ip_start: str | None = None
    ip_end: str | None = None
    segment: str | None = None
    owner: str | None = None
    is_default: bool = False
    state: str = "Allocated"

    _addr = field_validator("cidr", "gateway", "ip_start", "ip_end", mode="before")(_address_text)


class AffinityGroup(Entity):
    name: str
    owner: str = ""
    kind: str
    strict: bool = True


class ApiKey(BaseModel):
    id: UUID
    name: str
    prefix: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Event(BaseModel):
    """One row of the transactional outbox."""

    id: int
    time: datetime
    type: str
    resource_type: str
    resource_id: UUID | None = None
    old_state: str | None = None
    new_state: str | None = None
    operation_id: UUID | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def cloudevent(self, source: str = "/strato") -> dict[str, Any]:
        """The CloudEvents 1.0 structured-mode JSON envelope of this event."""
        data: dict[str, Any] = dict(self.payload)
        if self.old_state is not None or self.new_state is not None:
            data.setdefault("old_state", self.old_state)
            data.setdefault("new_state", self.new_state)
        if self.operation_id is not None:
            data.setdefault("operation_id", str(self.operation_id))
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(self.id),
            "source": source,
            "type": self.type,
            "time": self.time.isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
        if self.resource_id is not None:
            envelope["subject"] = f"{self.resource_type}/{self.resource_id}"
        return envelope
