"""Inputs and results of the host workflows and activities: add, register, heartbeat, inventory.

One input model and one result model each, imported by workflows through
``workflow.unsafe.imports_passed_through()``. New fields always get defaults so running
executions keep decoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.compute.specs import VmPowerInfo, VmStats
from strato.domain.network.payloads import NetworkInventory, NetworkProbe
from strato.domain.network.specs import RouterFence
from strato.domain.storage.payloads import ImageEntry, StoreKey, StoreRef
from strato.domain.storage.specs import VolumeInfo


class AddHostInput(BaseModel):
    host_id: UUID
    host_name: str
    zone_id: UUID
    operation_id: UUID | None = None
    connect_timeout_s: float = 30.0


class AddHostResult(BaseModel):
    host_id: UUID
    status: str
    cpu_cores: int = 0
    memory_total_mb: int = 0


class HostFacts(BaseModel):
    """What a hypervisor host reports about itself when connected."""

    hypervisor: str
    hypervisor_version: str = ""
    cpu_sockets: int = 1
    cpu_cores: int
    cpu_speed_mhz: int
    memory_total_mb: int
    capabilities: dict[str, Any] = Field(default_factory=dict)


class PoolRef(BaseModel):
    """A primary pool an agent serves on ``storage@<name>`` (its driver and location)."""

    name: str
    driver: str
    url: str = ""


class RegisterHostInput(BaseModel):
    """An agent announcing the host it serves (``strato agent compute``)."""

    host_name: str
    zone_name: str
    cluster_name: str
    pod_name: str | None = None
    agent_id: UUID
    url: str = ""
    facts: HostFacts
    # Where the agent answers health probes (a neighbour's investigation of its host).
    agent_endpoint: str | None = None


class RegisterHostResult(BaseModel):
    host_id: UUID
    created: bool
    status: str
    pools: list[PoolRef] = Field(default_factory=list)


class VmStatSample(BaseModel):
    """One running VM's counters, read by its agent with the heartbeat's report."""

    uuid: str
    stats: VmStats


class HostHeartbeat(BaseModel):
    """What an agent sends every few seconds: it is alive, and what its hypervisor runs
    (the VM state report the monitor reconciles against the database)."""

    agent_id: UUID
    sent_at: datetime  # the agent's clock: for logs and report ids, never for ordering
    vms: list[VmPowerInfo] = Field(default_factory=list)
    stopping: bool = False
    # The number the database issued before ``vms`` was taken (the monitor's last
    # watermark); reports are ordered against VM changes by it. None: correct nothing.
    watermark: int | None = None
    # Counters of the VMs running here (kept as each VM's last two samples).
    stats: list[VmStatSample] = Field(default_factory=list)


class HostMonitorInput(BaseModel):
    host_id: UUID
    host_name: str
    window_s: float = 30.0
    reported_unknown: list[str] = Field(default_factory=list)
    watermark: int | None = None


class HostHeartbeatInput(BaseModel):
    host_id: UUID
    heartbeat: HostHeartbeat
    reported_unknown: list[str] = Field(default_factory=list)


class HostHeartbeatResult(BaseModel):
    gone: bool = False
    accepted: bool = True
    status: str = ""
    corrected: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)
    watermark: int | None = None  # issued at the end of this heartbeat's transaction
    # The file pools the host's agent serves now (pools added or removed since it
    # registered are picked up through the monitor's ``pools`` query).
    pools: list[PoolRef] | None = None
    # The domains the agent must destroy before its host is Up again (the host was Down:
    # these VMs were fenced, some run elsewhere now).
    fence: list[str] = Field(default_factory=list)
    # The monitor that watched the host until this heartbeat, when another did.
    moved_from: str = ""
    # Routers the host ran when it went Down, elsewhere now: its network agent must
    # remove them (unless newer ones run there).
    stale_routers: list[RouterFence] = Field(default_factory=list)


class HostHeartbeatLostInput(BaseModel):
    host_id: UUID
    silent_s: float


class ConnectHostInput(BaseModel):
    host_id: UUID
    host_name: str


class HostTransitionInput(BaseModel):
    host_id: UUID
    target: str
    reason: str | None = None
    operation_id: UUID | None = None


class HostTransitionResult(BaseModel):
    host_id: UUID
    old_status: str
    new_status: str
    changed: bool


class HostConnectedInput(BaseModel):
    host_id: UUID
    facts: HostFacts
    operation_id: UUID | None = None


class HostVm(BaseModel):
    host: str
    name: str


class PoolVolume(BaseModel):
    pool: str
    name: str


class InventoryInput(BaseModel):
    """What `strato doctor` asks the agents: their hosts' domains and pools' volumes, and
    (repair) domains to undefine and volumes to delete that no VM or volume owns."""

    hosts: list[str] = Field(default_factory=list)
    pools: list[str] = Field(default_factory=list)
    # Guest networks' devices on hosts: routers and ports (their network agents).
    networks: list[NetworkProbe] = Field(default_factory=list)
    undefine: list[HostVm] = Field(default_factory=list)
    delete: list[PoolVolume] = Field(default_factory=list)
    # How long an agent may take to pick the task up before it counts as unreachable.
    reach_s: float = 10.0
    # Image stores to list, and images nothing records to delete there, by the template
    # service on its queue.
    stores: list[StoreRef] = Field(default_factory=list)
    drop_images: list[StoreKey] = Field(default_factory=list)
    templates_queue: str = "templates"


class HostInventory(BaseModel):
    host: str
    vms: list[VmPowerInfo] | None = None
    error: str | None = None


class PoolInventory(BaseModel):
    pool: str
    volumes: list[VolumeInfo] | None = None
    error: str | None = None


class StoreInventory(BaseModel):
    store: str
    images: list[ImageEntry] | None = None
    error: str | None = None


class InventoryResult(BaseModel):
    hosts: list[HostInventory] = Field(default_factory=list)
    pools: list[PoolInventory] = Field(default_factory=list)
    stores: list[StoreInventory] = Field(default_factory=list)
    networks: list[NetworkInventory] = Field(default_factory=list)
    # One line per requested undefine/delete that failed.
    failed_repairs: list[str] = Field(default_factory=list)
