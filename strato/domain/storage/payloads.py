"""Workflow and activity inputs/results of volumes: one input model and one result model each.

Imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel


class VolumeReadyInput(BaseModel):
    volume_id: UUID
    path: str


def device_name(device_id: int) -> str:
    """A VM's disk device by its number: 0 is vda (the root), 1 vdb, ... 25 vdz."""
    return f"vd{chr(ord('a') + device_id)}"


class VolumeRef(BaseModel):
    """Names one volume and the operation acting on it."""

    volume_id: UUID
    operation_id: UUID | None = None


class AttachVolumeInput(VolumeRef):
    vm_id: UUID
    device_id: int


class DetachVolumeInput(VolumeRef):
    vm_id: UUID


class ResizeVolumeInput(VolumeRef):
    size_bytes: int
    old_size_bytes: int
    shrink_ok: bool = False
    # The VM the volume is attached to (its lock is held too), if any.
    vm_id: UUID | None = None


class DestroyVolumeInput(VolumeRef):
    expunge: bool = False
    expunge_delay_s: float = 86_400.0


class ExpungeVolumeInput(VolumeRef):
    delay_s: float = 0.0


class VolumeResult(BaseModel):
    volume_id: UUID
    state: str
    vm_id: UUID | None = None
    device: str | None = None
    size_bytes: int | None = None


class VolumeBeginInput(VolumeRef):
    # The transitional state to enter ("" stays in the current one).
    target: str = ""


class VolumeContext(BaseModel):
    """What a volume workflow needs, read at its first step."""

    volume_id: UUID
    name: str  # its name on the pool (``strato-vol-<id>``), not the user's label
    kind: str
    zone_id: UUID
    state: str
    size_bytes: int
    format: str = "qcow2"
    path: str | None = None
    pool_id: UUID | None = None
    pool_name: str | None = None
    vm_id: UUID | None = None
    device_id: int | None = None
    last_error: str | None = None
    # This operation already finished on the volume (its first step ran again).
    finished: bool = False
    # Another operation holds the volume's lock now (a delayed expunge waits for it).
    busy: bool = False


class StoreRef(BaseModel):
    """An image store as the template service reaches it."""

    store_id: UUID
    name: str
    driver: str
    url: str


class StoreKey(BaseModel):
    store: StoreRef
    key: str


class ImageEntry(BaseModel):
    """An image an image store holds (its inventory, for `strato doctor`)."""

    key: str
    size_bytes: int


class SnapshotBackup(BaseModel):
    """Where a snapshot's backup is in secondary storage."""

    store_id: UUID
    path: str
    size_bytes: int


class VolumeFinishInput(VolumeRef):
    """The last step: state, attachment, size, lock released; one transaction."""

    target: str
    error: str | None = None
    error_type: str | None = None
    # Attach at this VM and device (both set), or detach (``detach``).
    vm_id: UUID | None = None
    device_id: int | None = None
    detach: bool = False
    size_bytes: int | None = None
    path: str | None = None
    destroyed: bool = False
    expunge_delay_s: float | None = None
    # Give back the pool claim's bytes to this size (a failed resize).
    claim_bytes: int | None = None
    # Release the volume's pool claim and forget its pool (a file deleted or never made).
    release_pool: bool = False
    # The volume's file is now on this pool (a migration), or its claim goes back to it
    # (a failed one).
    pool_id: UUID | None = None
    claim_back_to: UUID | None = None
    # A snapshot of the volume the operation acted on, and the state it ends in.
    snapshot_id: UUID | None = None
    snapshot_target: str | None = None
    snapshot_size_bytes: int | None = None
    # Its backup in secondary storage (a BackupSnapshot that finished).
    snapshot_backup: SnapshotBackup | None = None
    # The volume went back to this snapshot (its event).
    reverted_to: UUID | None = None


class VolumeFailSafeInput(VolumeRef):
    error: str
    kind: str = ""


class VolumeClaimInput(VolumeRef):
    """Room for a data volume on its first attach: a pool the VM reaches, its root's first."""

    host_name: str | None = None
    near_pool_name: str | None = None


class PoolClaim(BaseModel):
    pool_id: UUID
    pool_name: str
    volume_name: str
    size_bytes: int


class PoolResizeInput(BaseModel):
    """Resize a volume's file on its pool (not in use by a running guest)."""

    name: str
    size_bytes: int
    shrink_ok: bool = False


class SnapshotOpInput(VolumeRef):
    """An operation on one snapshot, under its volume's lock (and its VM's, if attached)."""

    snapshot_id: UUID
    snapshot_name: str
    storage_name: str
    vm_id: UUID | None = None
    # The volume as the command locked it (nothing else can change it until the
    # operation's last step), so the run needs no first step to read it.
    volume_name: str = ""
    pool_name: str | None = None
    volume_state: str = "Ready"
    size_bytes: int = 0
    has_file: bool = True
    # The VM's device the volume is attached at: a running VM's QEMU takes the snapshot.
    device: str | None = None
    # The snapshot's size (a revert gives the volume that size back).
    snapshot_size_bytes: int = 0
    # Its backup in secondary storage (a delete removes it there too), and the template
    # service's queue that does it.
    backup: StoreKey | None = None
    templates_queue: str = "templates"


class SnapshotResult(BaseModel):
    snapshot_id: UUID
    volume_id: UUID
    state: str


class PoolSnapshotInput(BaseModel):
    """A snapshot ``snapshot`` of the volume ``volume`` on its pool (storage names)."""

    volume: str
    snapshot: str


class PolicyRef(BaseModel):
    """A snapshot policy, as its schedule's runs get it."""

    policy_id: UUID


class PolicyFireInput(PolicyRef):
    # Names this firing (the schedule's run id): the snapshot's Idempotency-Key, so a
    # retried step takes no second snapshot.
    firing: str


class PolicyFired(BaseModel):
    """One firing's snapshot operation (or why it took none)."""

    operation_id: UUID | None = None
    workflow_id: str | None = None
    skipped: str | None = None


class PolicyRunResult(BaseModel):
    policy_id: UUID
    snapshot: str  # the operation's outcome: succeeded, failed, or skipped: <why>
    pruned: int = 0


class VolumeFromSnapshotInput(VolumeRef):
    """A new volume (``volume_id``) made on its source's pool from a snapshot; the source
    volume (and its stopped VM, if attached) are locked by the same operation."""

    source_volume_id: UUID
    source_name: str
    storage_name: str  # the snapshot's name on the pool
    name: str  # the new volume's name on the pool
    pool_name: str
    vm_id: UUID | None = None


class PoolCopyInput(BaseModel):
    volume: str
    snapshot: str
    new: str


class PoolImportInput(BaseModel):
    """A pool step: another pool's volume file copied here (a migration)."""

    name: str
    source: str
    size_bytes: int
    backing: str | None = None


class MigrateVolumeInput(VolumeRef):
    """MigrateVolume: the command locked the volume (Migrating) and its stopped VM, and
    moved its claim to the target pool."""

    vm_id: UUID | None = None
    name: str  # the file's name on both pools
    source_pool_id: UUID
    source_pool: str
    source_path: str
    target_pool_id: UUID
    target_pool: str
    size_bytes: int
    # A root disk cloned from a template the template service keeps: the target pool
    # gets its own copy of the template first, and the moved file is rebased onto it.
    template_id: UUID | None = None
    # A running VM's disk, moved live: its host's QEMU mirrors it into a file the target
    # pool prepared (``device`` of the domain ``hypervisor_name`` on ``live_host``).
    live_host: str | None = None
    hypervisor_name: str | None = None
    device: str | None = None
