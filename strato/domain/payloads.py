"""Workflow and activity inputs/results. One input model and one result model each.

Kept in their own module (no datetime-bearing classes defined in workflow modules) and
imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.compute import ConsoleInfo, VmPowerInfo
from strato.domain.storage import VolumeInfo


class StepProgress(BaseModel):
    """What a running operation is doing now; returned by every workflow's ``progress`` query."""

    step: str = "pending"
    steps_done: int = 0
    steps_total: int = 1
    percent: int = 0
    detail: str = ""


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


class RegisterHostResult(BaseModel):
    host_id: UUID
    created: bool
    status: str
    pools: list[PoolRef] = Field(default_factory=list)


class HostHeartbeat(BaseModel):
    """What an agent sends every few seconds: it is alive, and what its hypervisor runs
    (the VM state report the monitor reconciles against the database)."""

    agent_id: UUID
    sent_at: datetime
    vms: list[VmPowerInfo] = Field(default_factory=list)
    stopping: bool = False


class HostMonitorInput(BaseModel):
    host_id: UUID
    host_name: str
    window_s: float = 30.0
    reported_unknown: list[str] = Field(default_factory=list)


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


# --- VM lifecycle -----------------------------------------------------------------


class VmRef(BaseModel):
    """Names one VM and the operation acting on it."""

    vm_id: UUID
    operation_id: UUID | None = None


class DeployVmInput(VmRef):
    max_hosts: int = 3
    start: bool = True
    # How long a host's agent may take to pick a step up before the host counts as dead,
    # and (if set) the limit of each host step, which also cuts a hung hypervisor call.
    host_reach_s: float = 30.0
    host_step_s: float | None = None


class StopVmInput(VmRef):
    force: bool = False
    timeout_s: float = 30.0
    release_capacity: bool = True


class ScaleVmInput(VmRef):
    service_offering_id: UUID


class DestroyVmInput(VmRef):
    expunge: bool = False
    expunge_delay_s: float = 86_400.0


class ExpungeVmInput(VmRef):
    delay_s: float = 0.0


class VmResult(BaseModel):
    vm_id: UUID
    state: str
    host_id: UUID | None = None
    host_name: str | None = None
    attempts: list[str] = Field(default_factory=list)


class VmContext(BaseModel):
    """What the workflow needs to drive subsystems for one VM (read at its first step)."""

    vm_id: UUID
    name: str
    hypervisor_name: str
    zone_id: UUID
    owner: str = ""
    state: str
    cpu_count: int
    cpu_speed_mhz: int
    memory_mb: int
    service_offering_id: UUID | None = None
    host_id: UUID | None = None
    host_name: str | None = None
    last_host_id: UUID | None = None
    last_host_name: str | None = None
    root_volume_id: UUID | None = None
    root_volume_name: str | None = None
    root_size_bytes: int = 0
    root_pool_name: str | None = None
    template_path: str | None = None
    boot: dict[str, Any] = Field(default_factory=dict)


class VmBeginInput(VmRef):
    target: str
    expected: list[str] = Field(default_factory=list)


class VmFinishInput(VmRef):
    """The final step: transition, set/clear host, clear the operation lock, one txn."""

    target: str
    host_id: UUID | None = None
    clear_host: bool = False
    error: str | None = None
    destroyed: bool = False
    expunge_delay_s: float | None = None
    console: ConsoleInfo | None = None
    # An event the operation's success writes besides a state change (e.g. a reboot,
    # which leaves the VM Running): written once, in the finishing transaction.
    event: str | None = None


class VmFailSafeInput(VmRef):
    """An operation ends on a failure its own code did not handle: whatever it was."""

    error: str
    kind: str = ""


class PlanInput(VmRef):
    avoid: list[UUID] = Field(default_factory=list)
    prefer_host_id: UUID | None = None


class Placement(BaseModel):
    host_id: UUID
    host_name: str
    considered: int = 0
    console: ConsoleInfo | None = None


class PoolPlacement(BaseModel):
    pool_id: UUID
    pool_name: str
    volume_id: UUID
    volume_name: str
    size_bytes: int


class NicInfo(BaseModel):
    mac: str
    ip_address: str | None = None
    network_name: str = ""


class VolumeReadyInput(BaseModel):
    volume_id: UUID
    path: str


class ScaleClaimInput(VmRef):
    service_offering_id: UUID
    live: bool = False


class ScaleClaimResult(BaseModel):
    cpu_count: int
    cpu_speed_mhz: int
    memory_mb: int
    applied: bool


class ComputeVmInput(BaseModel):
    """A host-bound compute request about one VM by its hypervisor name."""

    name: str
    timeout_s: float = 30.0
    force: bool = False
    cpu_count: int = 0
    memory_mb: int = 0


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
    undefine: list[HostVm] = Field(default_factory=list)
    delete: list[PoolVolume] = Field(default_factory=list)
    # How long an agent may take to pick the task up before it counts as unreachable.
    reach_s: float = 10.0


class HostInventory(BaseModel):
    host: str
    vms: list[VmPowerInfo] | None = None
    error: str | None = None


class PoolInventory(BaseModel):
    pool: str
    volumes: list[VolumeInfo] | None = None
    error: str | None = None


class InventoryResult(BaseModel):
    hosts: list[HostInventory] = Field(default_factory=list)
    pools: list[PoolInventory] = Field(default_factory=list)
    # One line per requested undefine/delete that failed.
    failed_repairs: list[str] = Field(default_factory=list)
