"""Storage activities: run on ``storage@<pool>`` by that pool's agent, with its driver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity

from strato.activities.beat import beating
from strato.activities.collect import activities_of
from strato.domain.storage.payloads import (
    PoolCopyInput,
    PoolImportInput,
    PoolResizeInput,
    PoolSnapshotInput,
)
from strato.domain.storage.specs import SnapshotInfo, VolumeInfo, VolumeSpec
from strato.domain.storage.steps import (
    CACHE_TEMPLATE,
    COPY_SNAPSHOT,
    CREATE_SNAPSHOT,
    CREATE_VOLUME,
    DELETE_SNAPSHOT,
    DELETE_VOLUME,
    EXPORT_SNAPSHOT,
    IMPORT_VOLUME,
    LIST_VOLUMES,
    RESIZE_VOLUME,
    REVERT_SNAPSHOT,
    VOLUME_INFO,
)
from strato.domain.storage.templates import ImageResult, PoolCacheInput, PoolExportInput
from strato.drivers.registry import load
from strato.drivers.storage.base import PrimaryStorage


class StorageActivities:
    def __init__(self, driver: PrimaryStorage, image_roots: Sequence[str] = ()) -> None:
        self.driver = driver
        self.image_roots = tuple(image_roots)  # where the image stores are mounted

    @activity.defn(name=CREATE_VOLUME.name)
    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        """Idempotent: an existing volume of that name is returned as it is."""
        return await beating(self.driver.create_volume(spec))

    @activity.defn(name=CACHE_TEMPLATE.name)
    async def cache_template(self, inp: PoolCacheInput) -> VolumeInfo:
        """Idempotent: a copy already on the pool is returned as it is."""
        return await beating(self.driver.cache_template(inp.name, inp.source, inp.size_bytes))

    @activity.defn(name=EXPORT_SNAPSHOT.name)
    async def export_snapshot(self, inp: PoolExportInput) -> ImageResult:
        """Idempotent: an image already at the store's location for the key is kept."""
        store = load("secondary", inp.store.driver)(
            inp.store.name, url=inp.store.url, image_roots=self.image_roots
        )
        info = await beating(
            self.driver.export_snapshot(inp.volume, inp.snapshot, store.location(inp.key))
        )
        return ImageResult(
            path=info.path,
            size_bytes=info.allocated_bytes,
            virtual_size=info.size_bytes,
            format="qcow2",
        )

    @activity.defn(name=IMPORT_VOLUME.name)
    async def import_volume(self, inp: PoolImportInput) -> VolumeInfo:
        """Idempotent: a volume already here under the name is returned as it is."""
        return await beating(
            self.driver.import_volume(inp.name, inp.source, inp.size_bytes, inp.backing)
        )

    @activity.defn(name=DELETE_VOLUME.name)
    async def delete_volume(self, name: str) -> None:
        """Idempotent: deleting a missing volume succeeds."""
        await beating(self.driver.delete_volume(name))

    @activity.defn(name=LIST_VOLUMES.name)
    async def list_volumes(self) -> list[VolumeInfo]:
        """Every volume the pool holds (for `strato doctor`). Read-only."""
        return await beating(self.driver.list_volumes())

    @activity.defn(name=VOLUME_INFO.name)
    async def volume_info(self, name: str) -> VolumeInfo:
        """Read-only: where one volume's file is."""
        return await beating(self.driver.volume_info(name))

    @activity.defn(name=RESIZE_VOLUME.name)
    async def resize_volume(self, inp: PoolResizeInput) -> VolumeInfo:
        """Idempotent: resizing to the size the volume has is a no-op."""
        return await beating(
            self.driver.resize_volume(inp.name, inp.size_bytes, shrink_ok=inp.shrink_ok)
        )

    @activity.defn(name=CREATE_SNAPSHOT.name)
    async def create_snapshot(self, inp: PoolSnapshotInput) -> SnapshotInfo:
        """Idempotent: an existing snapshot of that name is returned, not retaken."""
        return await beating(self.driver.create_snapshot(inp.volume, inp.snapshot))

    @activity.defn(name=COPY_SNAPSHOT.name)
    async def copy_snapshot(self, inp: PoolCopyInput) -> VolumeInfo:
        """Idempotent: an existing volume of the new name is returned as it is."""
        return await beating(self.driver.copy_snapshot(inp.volume, inp.snapshot, inp.new))

    @activity.defn(name=REVERT_SNAPSHOT.name)
    async def revert_snapshot(self, inp: PoolSnapshotInput) -> None:
        """Idempotent: reverting twice is reverting once."""
        await beating(self.driver.revert_snapshot(inp.volume, inp.snapshot))

    @activity.defn(name=DELETE_SNAPSHOT.name)
    async def delete_snapshot(self, inp: PoolSnapshotInput) -> None:
        """Idempotent: deleting a missing snapshot succeeds."""
        await beating(self.driver.delete_snapshot(inp.volume, inp.snapshot))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
