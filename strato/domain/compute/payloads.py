"""Inputs and results of the VM operations' workflows and activities.

One input model and one result model each, imported by workflows through
``workflow.unsafe.imports_passed_through()``. New fields always get defaults so running
executions keep decoding.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.compute.specs import ConsoleInfo, DiskSpec
from strato.domain.network.payloads import NicInfo
from strato.domain.storage.backups import RestoreDisk
from strato.domain.storage.payloads import VolumeBeginInput, VolumeContext, VolumeFinishInput

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


class RestoreVmInput(DeployVmInput):
    """A new VM (Allocated, locked) whose volumes are copies of a backup's: each made on
    its claimed pool, then the VM Stopped, or booted if ``start``."""

    backup_id: UUID
    disks: list[RestoreDisk] = Field(default_factory=list)


class RestoredInput(VmRef):
    """The restored VM's volumes: Ready with their files (``paths``: volume id -> path);
    with no paths, the restore failed: its claims are released and its data volumes go."""

    paths: dict[str, str] = Field(default_factory=dict)


class IsoInput(VmRef):
    """AttachIso's (``iso_id``, the template of format iso) and DetachIso's (None) input."""

    iso_id: UUID | None = None


class VmIsoInput(VmRef):
    """Record the VM's ISO (None: none) and the path of its copy; its event."""

    iso_id: UUID | None = None
    iso_path: str | None = None


class MediaInput(BaseModel):
    """The medium of a running VM's CD-ROM drive (``path`` None: ejected)."""

    name: str
    path: str | None = None


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
    root_pool_id: UUID | None = None
    # The root volume has a file already (a start, not a first boot): a failed boot
    # attempt must neither delete it nor release its pool.
    root_ready: bool = False
    # Data volumes attached to the VM (Ready, with a file), by device: defined with it.
    data_disks: list[DiskSpec] = Field(default_factory=list)
    template_path: str | None = None
    # A template the template service keeps: root disks are clones of its pool copy.
    template_id: UUID | None = None
    template_stored: bool = False
    boot: dict[str, Any] = Field(default_factory=dict)
    # The ISO in its CD-ROM drive: the template, and its copy on the root's pool.
    iso_id: UUID | None = None
    iso_path: str | None = None
    # A NIC on a network the network agents implement (a physical network's): its ports
    # are plugged on boot and unplugged on stop.
    managed_nics: bool = False
    # Set when this operation already finished on the VM (its first step ran again, after
    # a lost workflow task): the workflow ends with that outcome instead of running twice.
    finished: bool = False
    last_error: str | None = None
    last_error_type: str | None = None


class VmBeginInput(VmRef):
    target: str
    expected: list[str] = Field(default_factory=list)  # unused; kept for stored histories
    # Enter ``target`` only from these states (empty: from any); otherwise stay put.
    only_from: list[str] = Field(default_factory=list)


class VmFinishInput(VmRef):
    """The final step: transition, set/clear host, clear the operation lock, one txn."""

    target: str
    host_id: UUID | None = None
    clear_host: bool = False
    error: str | None = None
    # The operation's failure type when it fails (None: it succeeded).
    error_type: str | None = None
    destroyed: bool = False
    expunge_delay_s: float | None = None
    console: ConsoleInfo | None = None
    # The operation goes on under its lock (a destroy that expunges at once).
    keep_lock: bool = False
    # A root volume the operation created, marked Ready (with its path) in the same step.
    volume_id: UUID | None = None
    volume_path: str | None = None
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
    # The root volume the boot created (for the finishing step to mark Ready).
    volume_id: UUID | None = None
    volume_path: str | None = None


class PoolPlacement(BaseModel):
    pool_id: UUID
    pool_name: str
    volume_id: UUID
    volume_name: str
    size_bytes: int


class PlaceResult(BaseModel):
    """One step's placement of a VM: its NICs, a host claim and, if a pool reachable from
    that host had room, a storage claim (else ``pool_error``, the host claim released)."""

    placement: Placement
    pool: PoolPlacement | None = None
    pool_error: str | None = None
    nics: list[NicInfo] = Field(default_factory=list)


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


class AttachDiskInput(BaseModel):
    """Hot-plug a disk into a running VM (by its hypervisor name)."""

    name: str
    disk: DiskSpec


class DetachDiskInput(BaseModel):
    """Unplug the disk at ``device`` from a VM; waits until the guest lets it go."""

    name: str
    device: str


class ResizeDiskInput(BaseModel):
    """Grow the disk at ``device`` of a running VM (the hypervisor resizes its image)."""

    name: str
    device: str
    size_bytes: int


class DiskSnapshotInput(BaseModel):
    """A snapshot ``snapshot`` of the running VM's disk at ``device``, taken by its QEMU."""

    name: str
    device: str
    snapshot: str


class DisksSnapshotInput(BaseModel):
    """One snapshot ``snapshot`` of the running VM's disks at ``devices``, at one instant."""

    name: str
    devices: list[str]
    snapshot: str


class MoveDiskInput(BaseModel):
    """A running VM's disk at ``device`` moved live into the file ``dest`` (``shallow``:
    only its top layer; ``dest`` has the same backing content)."""

    name: str
    device: str
    dest: str
    shallow: bool = False


# --- a volume operation that holds the VM's lock too ------------------------------


class VmVolumeBeginInput(BaseModel):
    """The first step of a volume operation on an attached (or attaching) volume: the
    volume's begin and the VM's, in one transaction."""

    volume: VolumeBeginInput
    vm_id: UUID


class VmVolumeContext(BaseModel):
    volume: VolumeContext
    vm: VmContext | None = None  # None when the volume's operation already finished


class VmVolumeFinishInput(BaseModel):
    """The last step: the volume's finish and the VM's lock back, in one transaction."""

    volume: VolumeFinishInput
    vm: VmFinishInput
