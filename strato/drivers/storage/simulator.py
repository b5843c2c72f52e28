"""Simulated primary pool with tunable capacity, latency and injected faults.

With a ``state_file`` its volumes outlive the agent (as files on a real pool do).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import ClassVar

import strato.drivers.simstate as simstate
from strato.domain.storage.specs import PoolFacts, SnapshotInfo, VolumeInfo, VolumeSpec
from strato.drivers.faults import FaultPlan
from strato.drivers.storage.base import (
    PoolFull,
    PrimaryStorage,
    ShrinkRefused,
    SnapshotNotFound,
    TemplateUnusable,
    VolumeNotFound,
)


def _empty_image(dest: Path, size: int) -> None:
    """An empty qcow2 of the exported volume's size where a real export would be, so a
    real store lists what its records say it holds (written aside, then renamed)."""
    tmp = dest.with_name(f".{dest.name}.sim")
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(tmp), str(size)],
        check=True,
        capture_output=True,
    )
    os.replace(tmp, dest)


class SimulatorPrimaryStorage(PrimaryStorage):
    name = "simulator"
    # Sizes and snapshots are bookkeeping: no bytes to write and read back.
    capabilities: ClassVar[dict[str, str | bool]] = {
        "snapshot": "internal",
        "data": False,
        "shrink": True,
    }

    def __init__(
        self,
        pool_name: str,
        *,
        capacity_bytes: int = 10 << 40,
        faults: FaultPlan | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.pool_name = pool_name
        self.capacity_bytes = capacity_bytes
        self.faults = faults or FaultPlan()
        self.state_file = state_file
        saved = simstate.load(state_file) or {}
        self.volumes: dict[str, VolumeInfo] = {
            name: VolumeInfo.model_validate(v)
            for name, v in saved.items()
            if not name.startswith("@")
        }
        # What was exported to secondary storage (bookkeeping: a simulated pool writes
        # no file there).
        self.exports: dict[str, VolumeInfo] = {}
        self.snapshots: dict[str, list[SnapshotInfo]] = {
            name: [SnapshotInfo.model_validate(x) for x in snaps]
            for name, snaps in saved.get("@snapshots", {}).items()
        }

    def _save(self) -> None:
        state: dict[str, object] = {n: v.model_dump() for n, v in self.volumes.items()}
        state["@snapshots"] = {
            n: [x.model_dump() for x in snaps] for n, snaps in self.snapshots.items()
        }
        simstate.save(self.state_file, state)

    def _volume(self, name: str) -> VolumeInfo:
        info = self.volumes.get(name)
        if info is None:
            raise VolumeNotFound(f"no volume {name} on pool {self.pool_name}")
        return info

    async def pool_facts(self) -> PoolFacts:
        await self.faults.call("pool_facts", self.pool_name)
        used = sum(v.allocated_bytes for v in self.volumes.values())
        return PoolFacts(capacity_bytes=self.capacity_bytes, used_bytes=used)

    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        await self.faults.call("create_volume", self.pool_name)
        if spec.name in self.volumes:
            return self.volumes[spec.name]
        if spec.template_name and spec.template_name not in self.volumes:
            raise TemplateUnusable(
                f"template {spec.template_name} is not cached on pool {self.pool_name}"
            )
        used = sum(v.size_bytes for v in self.volumes.values())
        if used + spec.size_bytes > self.capacity_bytes:
            raise PoolFull(f"pool {self.pool_name} cannot hold {spec.size_bytes} more bytes")
        info = VolumeInfo(
            name=spec.name,
            path=f"sim://{self.pool_name}/{spec.name}",
            size_bytes=spec.size_bytes,
            allocated_bytes=min(spec.size_bytes, 1 << 20),
        )
        self.volumes[spec.name] = info
        self._save()
        return info

    async def cache_template(self, name: str, source: str, size_bytes: int) -> VolumeInfo:
        await self.faults.call("cache_template", self.pool_name)
        if name in self.volumes:
            return self.volumes[name]
        used = sum(v.size_bytes for v in self.volumes.values())
        if used + size_bytes > self.capacity_bytes:
            raise PoolFull(f"pool {self.pool_name} cannot hold {size_bytes} more bytes")
        info = VolumeInfo(
            name=name,
            path=f"sim://{self.pool_name}/{name}",
            size_bytes=size_bytes,
            allocated_bytes=size_bytes,
        )
        self.volumes[name] = info
        self._save()
        return info

    async def import_volume(
        self, name: str, source: str, size_bytes: int, backing: str | None = None
    ) -> VolumeInfo:
        await self.faults.call("import_volume", self.pool_name)
        if name in self.volumes:
            return self.volumes[name]
        if backing is not None and backing not in self.volumes:
            raise TemplateUnusable(f"template {backing} is not cached on pool {self.pool_name}")
        return await self.create_volume(VolumeSpec(name=name, size_bytes=size_bytes))

    async def delete_volume(self, name: str) -> None:
        await self.faults.call("delete_volume", self.pool_name)
        if self.volumes.pop(name, None) is not None:
            self.snapshots.pop(name, None)
            self._save()

    async def list_volumes(self) -> list[VolumeInfo]:
        return [self.volumes[k] for k in sorted(self.volumes)]

    async def volume_info(self, name: str) -> VolumeInfo:
        await self.faults.call("volume_info", self.pool_name)
        return self._volume(name)

    async def resize_volume(
        self, name: str, size_bytes: int, *, shrink_ok: bool = False
    ) -> VolumeInfo:
        await self.faults.call("resize_volume", self.pool_name)
        info = self._volume(name)
        if size_bytes < info.size_bytes and not shrink_ok:
            raise ShrinkRefused(
                f"volume {name} is {info.size_bytes} bytes: shrinking it to {size_bytes} "
                "loses the data past the new end (shrink_ok allows it)"
            )
        grown = size_bytes - info.size_bytes
        used = sum(v.size_bytes for v in self.volumes.values())
        if grown > 0 and used + grown > self.capacity_bytes:
            raise PoolFull(f"pool {self.pool_name} cannot hold {grown} more bytes")
        info = info.model_copy(update={"size_bytes": size_bytes})
        self.volumes[name] = info
        self._save()
        return info

    async def create_snapshot(self, volume: str, snapshot: str) -> SnapshotInfo:
        await self.faults.call("create_snapshot", self.pool_name)
        self._volume(volume)
        snaps = self.snapshots.setdefault(volume, [])
        for s in snaps:
            if s.name == snapshot:
                return s
        taken = SnapshotInfo(name=snapshot, volume=volume, taken_at=time.time())
        snaps.append(taken)
        self._save()
        return taken

    def keep_snapshot(self, volume: str, snapshot: str) -> None:
        """A snapshot a running guest's (simulated) QEMU wrote into the volume's file."""
        snaps = self.snapshots.setdefault(volume, [])
        if volume in self.volumes and snapshot not in {s.name for s in snaps}:
            snaps.append(SnapshotInfo(name=snapshot, volume=volume, taken_at=time.time()))
            self._save()

    def drop_snapshot(self, volume: str, snapshot: str) -> None:
        snaps = self.snapshots.get(volume, [])
        kept = [s for s in snaps if s.name != snapshot]
        if len(kept) != len(snaps):
            self.snapshots[volume] = kept
            self._save()

    async def copy_snapshot(self, volume: str, snapshot: str, new: str) -> VolumeInfo:
        await self.faults.call("copy_snapshot", self.pool_name)
        if new in self.volumes:
            return self.volumes[new]
        source = self._volume(volume)
        if snapshot not in {s.name for s in self.snapshots.get(volume, [])}:
            raise SnapshotNotFound(f"volume {volume} has no snapshot {snapshot}")
        return await self.create_volume(VolumeSpec(name=new, size_bytes=source.size_bytes))

    async def export_snapshot(self, volume: str, snapshot: str, dest: str) -> VolumeInfo:
        await self.faults.call("export_snapshot", self.pool_name)
        if dest in self.exports:
            return self.exports[dest]
        source = self._volume(volume)
        if snapshot not in {s.name for s in self.snapshots.get(volume, [])}:
            raise SnapshotNotFound(f"volume {volume} has no snapshot {snapshot}")
        info = VolumeInfo(
            name=dest.rsplit("/", 1)[-1],
            path=dest,
            size_bytes=source.size_bytes,
            allocated_bytes=min(source.size_bytes, 1 << 20),
        )
        if dest.startswith("/"):  # a real store (a directory): the export is a real file
            await asyncio.to_thread(_empty_image, Path(dest), source.size_bytes)
        self.exports[dest] = info
        return info

    async def list_snapshots(self, volume: str) -> list[SnapshotInfo]:
        self._volume(volume)
        return list(self.snapshots.get(volume, []))

    async def revert_snapshot(self, volume: str, snapshot: str) -> None:
        await self.faults.call("revert_snapshot", self.pool_name)
        self._volume(volume)
        if snapshot not in {s.name for s in self.snapshots.get(volume, [])}:
            raise SnapshotNotFound(f"volume {volume} has no snapshot {snapshot}")

    async def delete_snapshot(self, volume: str, snapshot: str) -> None:
        await self.faults.call("delete_snapshot", self.pool_name)
        self.drop_snapshot(volume, snapshot)
