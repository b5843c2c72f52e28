"""Volumes: request bodies (the commands'), filters."""

from __future__ import annotations

from uuid import UUID

from strato.api.schemas.common import Filter, Name, Text
from strato.commands.storage import VolumeAttach, VolumeCreate, VolumeDestroy, VolumeResize
from strato.domain.states import VolumeState

__all__ = ["VolumeAttach", "VolumeCreate", "VolumeDestroy", "VolumeFilter", "VolumeResize"]


class VolumeFilter(Filter):
    zone_id: UUID | None = None
    pool_id: UUID | None = None
    vm_id: UUID | None = None
    state: VolumeState | None = None
    kind: str | None = None
    owner: Text | None = None
    name: Name | None = None
