"""What the storage subsystem is asked to create, and what it reports."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PoolFacts(BaseModel):
    capacity_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)


class VolumeSpec(BaseModel):
    """A volume on a primary pool. ``name`` is stable per volume (derived from its uuid)."""

    name: str
    size_bytes: int = Field(gt=0)
    format: str = "qcow2"
    template_path: str | None = None
    # A template cached on this pool (PrimaryStorage.cache_template) to clone from.
    template_name: str | None = None


class VolumeInfo(BaseModel):
    name: str
    path: str
    size_bytes: int
    allocated_bytes: int = 0


class SnapshotInfo(BaseModel):
    """A snapshot of one volume, as its pool reports it."""

    name: str
    volume: str
    taken_at: float = Field(ge=0)  # seconds since the epoch, the pool's clock
