"""Compute entities: service offerings, templates, VMs, affinity groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from strato.domain.models import Entity
from strato.domain.states import (
    OfferingState,
    TemplateState,
    VmSnapshotState,
    VmState,
)


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
    # Kept by the template service in the zone's image stores (registered from a URL).
    stored: bool = False
    physical_size_bytes: int = 0
    max_size_bytes: int | None = None
    last_error: str | None = None
    current_operation_id: UUID | None = None


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
    backup_offering_id: UUID | None = None
    # The ISO in its CD-ROM drive (a template of format iso), and that ISO's copy on the
    # pool of its root volume, which every boot inserts.
    iso_id: UUID | None = None
    iso_path: str | None = None


class VmSnapshot(Entity):
    """A VM's disks at one instant, with its memory if ``memory`` (CloudStack's VM
    snapshot): an internal snapshot ``tag`` on every volume in ``disks``."""

    vm_id: UUID
    name: str
    description: str = ""
    memory: bool = False
    tag: str
    vm_state: str  # Running or Stopped when it was taken
    state: VmSnapshotState = VmSnapshotState.CREATING
    disks: list[dict[str, Any]] = Field(default_factory=list)
    last_error: str | None = None
    current_operation_id: UUID | None = None


class SshKeyPair(Entity):
    """An owner's SSH public key, by name (CloudStack's key pair)."""

    name: str
    owner: str = ""
    public_key: str
    fingerprint: str  # MD5, colon-separated (CloudStack's)
    fingerprint_sha256: str  # OpenSSH's


class AffinityGroup(Entity):
    name: str
    owner: str = ""
    kind: str
    strict: bool = True
