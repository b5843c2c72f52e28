"""Volumes: request bodies (the commands'), filters."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from strato.api.schemas.common import Filter, Name, Text
from strato.commands.policies import PolicyCreate
from strato.commands.snapshot_exports import TemplateFromSnapshot
from strato.commands.snapshots import SnapshotCreate, VolumeFromSnapshot
from strato.commands.storage import VolumeAttach, VolumeCreate, VolumeDestroy, VolumeResize
from strato.commands.volume_migration import VolumeMigrate
from strato.domain.states import SnapshotState, VolumeState

__all__ = [
    "PolicyCreate",
    "PolicyFilter",
    "SnapshotCreate",
    "SnapshotFilter",
    "TemplateFromSnapshot",
    "VolumeAttach",
    "VolumeCreate",
    "VolumeDestroy",
    "VolumeFilter",
    "VolumeFromSnapshot",
    "VolumeMigrate",
    "VolumeResize",
]


class VolumeFilter(Filter):
    zone_id: UUID | None = None
    pool_id: UUID | None = None
    vm_id: UUID | None = None
    restored_from: UUID | None = None  # a VM backup
    state: VolumeState | None = None
    kind: str | None = None
    owner: Text | None = None
    name: Name | None = None


class SnapshotFilter(Filter):
    volume_id: UUID | None = None
    zone_id: UUID | None = None
    state: SnapshotState | None = None
    owner: Text | None = None
    name: Name | None = None


class PolicyFilter(Filter):
    volume_id: UUID | None = None
    interval_type: Literal["HOURLY", "DAILY", "WEEKLY", "MONTHLY"] | None = None
