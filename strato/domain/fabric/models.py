"""Fabric entities: zones, pods, clusters, hosts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field, field_validator

from strato.domain.models import Entity
from strato.domain.states import (
    AllocationState,
    HostStatus,
    ResourceState,
)


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
    # Past this share of its CPU or memory allocated, the cluster takes no new VM.
    cpu_disable_threshold: float = 1.0
    memory_disable_threshold: float = 1.0


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
    tunnel_ip: str | None = None  # its underlay address: other hosts' VXLAN tunnels end there
    # Where its agent answers health probes (a neighbour's investigation asks it).
    agent_endpoint: str | None = None
    # The shared queue its agent serves it on (compute+<this>, network+<this>); None:
    # its own queues (compute@<name>, network@<name>).
    agent_queue: str | None = None
    outage: int = 0  # how many times it went from Up to Alert (numbers its investigations)

    @field_validator("tunnel_ip", mode="before")
    @classmethod
    def _tunnel_text(cls, value: Any) -> Any:
        return None if value is None else str(value)
