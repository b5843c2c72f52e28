"""Storage entities: primary pools, disk offerings, volumes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from strato.domain.models import Entity
from strato.domain.states import (
    OfferingState,
    PoolState,
    SnapshotState,
    VolumeState,
)


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


class ImageStore(Entity):
    """Secondary storage of a zone: where its templates and ISOs are kept."""

    zone_id: UUID
    name: str
    driver: str = "directory"
    url: str
    state: str = "Up"


class BackupOffering(Entity):
    """How a VM is backed up: ``retention`` backups of it are kept."""

    name: str
    description: str = ""
    retention: int = 7
    state: str = "Active"


class Backup(Entity):
    """A full backup of a VM's volumes in an image store of its zone."""

    vm_id: UUID
    zone_id: UUID
    offering_id: UUID
    store_id: UUID
    state: str = "BackingUp"
    size_bytes: int = 0
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    last_error: str | None = None
    current_operation_id: UUID | None = None


class BackupSchedule(Entity):
    """Recurring backups of one VM, as a Temporal Schedule (``schedule_id``)."""

    vm_id: UUID
    interval_type: str
    schedule: str
    timezone: str = "UTC"
    schedule_id: str


class DiskOffering(Entity):
    name: str
    display_text: str = ""
    size_gb: int | None = None
    custom_size: bool = False
    provisioning: str = "thin"
    storage_tags: list[str] = Field(default_factory=list)
    state: OfferingState = OfferingState.ACTIVE


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
    # The VM backup it was restored from (its copy of the backup's volume).
    restored_from: UUID | None = None
    # Made from this snapshot's backup (a delete of the snapshot waits for the copy).
    copied_from_snapshot: UUID | None = None
    owner: str = ""
    state: VolumeState = VolumeState.ALLOCATED
    # The VM's device it is attached at (0: vda, the root; 1: vdb ...), None if detached.
    device_id: int | None = None
    last_error: str | None = None
    current_operation_id: UUID | None = None
    current_operation_kind: str | None = None
    last_operation_id: UUID | None = None
    destroyed_at: datetime | None = None
    expunge_at: datetime | None = None


class Snapshot(Entity):
    """A snapshot of one volume, kept on its pool (``storage_name`` there)."""

    name: str
    volume_id: UUID
    zone_id: UUID
    owner: str = ""
    kind: str = "MANUAL"
    storage_name: str
    size_bytes: int = 0
    state: SnapshotState = SnapshotState.ALLOCATED
    last_error: str | None = None
    policy_id: UUID | None = None
    # Backed up to secondary storage: where, and how many bytes.
    backup_store_id: UUID | None = None
    backup_path: str | None = None
    backup_bytes: int = 0


class SnapshotPolicy(Entity):
    """A recurring snapshot of one volume, as a Temporal Schedule (``schedule_id``)."""

    volume_id: UUID
    interval_type: str
    schedule: str
    timezone: str = "UTC"
    max_snaps: int
    schedule_id: str
    paused: bool = False
