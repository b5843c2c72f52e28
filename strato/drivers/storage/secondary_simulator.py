"""Simulated secondary storage: staged images in memory (so a download can resume and its
checksum be rebuilt), published ones as their header and size only (bookkeeping, no
bytes a host could read). Facts come from the qcow2 header itself; a conversion is a
relabelling. For scale runs and unit tests; never a substitute for the directory store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

from strato.drivers.faults import FaultPlan
from strato.drivers.storage.base import PoolFull
from strato.drivers.storage.secondary import (
    ImageFacts,
    ImageNotFound,
    ImageUnreadable,
    SecondaryStorage,
    StageGap,
    StageWriter,
    StoredImage,
    check_key,
    qcow2_header,
)

HEAD = 4096


class _MemoryWriter(StageWriter):
    def __init__(self, buf: bytearray, limit: int) -> None:
        self.buf = buf
        self.size = len(buf)
        self.limit = limit

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            raise PoolFull(f"the simulated store stages at most {self.limit} bytes per image")
        self.buf += data
        self.size += len(data)

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Published:
    def __init__(self, head: bytes, size: int, fmt: str) -> None:
        self.head, self.size, self.format = head, size, fmt


class SimulatorSecondaryStorage(SecondaryStorage):
    name = "simulator"
    capabilities: ClassVar[dict[str, str | bool]] = {"inspect": "header", "data": False}

    def __init__(
        self,
        store_name: str,
        *,
        url: str = "",
        stage_limit: int = 256 << 20,
        faults: FaultPlan | None = None,
        **_: object,
    ) -> None:
        self.store_name = store_name
        self.stage_limit = stage_limit
        self.faults = faults or FaultPlan()
        self.staged: dict[str, bytearray] = {}
        self.formats: dict[str, str] = {}  # a converted stage's format
        self.published: dict[str, _Published] = {}

    def _path(self, key: str) -> str:
        return f"sim://{self.store_name}/{key}"

    async def staged_size(self, key: str) -> int:
        return len(self.staged.get(check_key(key), b""))

    def stage(self, key: str, offset: int) -> StageWriter:
        buf = self.staged.setdefault(check_key(key), bytearray())
        if offset > len(buf):
            raise StageGap(f"{key}: {len(buf)} bytes staged, cannot write from {offset}")
        del buf[offset:]
        self.formats.pop(key, None)
        return _MemoryWriter(buf, self.stage_limit)

    async def read_staged(self, key: str, limit: int) -> AsyncIterator[bytes]:
        buf = self.staged.get(check_key(key), bytearray())
        for start in range(0, min(limit, len(buf)), 1 << 20):
            yield bytes(buf[start : min(start + (1 << 20), limit)])

    def _facts(self, key: str, fmt: str) -> ImageFacts:
        buf = self.staged.get(key)
        label = self.formats.get(key)
        if buf is not None:
            head, size = bytes(buf[:HEAD]), len(buf)
        elif key in self.published:
            image = self.published[key]
            head, size, label = image.head, image.size, image.format
        else:
            raise ImageNotFound(f"no image {key} in store {self.store_name}")
        if label == "qcow2" and fmt == "qcow2" and not head.startswith(b"QFI"):
            # a relabelled (converted) raw image
            return ImageFacts(format="qcow2", virtual_size=size, file_size=size)
        facts = qcow2_header(head, size)
        if fmt == "qcow2":
            if facts is None:
                raise ImageUnreadable(f"{key}: not a qcow2 image (no qcow2 header)")
            return facts
        return ImageFacts(format="raw", virtual_size=size, file_size=size)

    async def inspect(self, key: str, fmt: str) -> ImageFacts:
        return self._facts(check_key(key), "raw" if fmt == "iso" else fmt)

    async def convert(self, key: str, source_fmt: str, target_fmt: str) -> ImageFacts:
        await self.faults.call("convert", self.store_name)
        self._facts(check_key(key), source_fmt)
        self.formats[key] = target_fmt
        return self._facts(key, target_fmt)

    async def publish(self, key: str) -> StoredImage:
        buf = self.staged.pop(check_key(key), None)
        if buf is not None:
            fmt = self.formats.pop(key, "qcow2" if buf.startswith(b"QFI") else "raw")
            self.published[key] = _Published(bytes(buf[:HEAD]), len(buf), fmt)
        return await self.get(key)

    async def discard(self, key: str) -> None:
        self.staged.pop(check_key(key), None)
        self.formats.pop(key, None)

    def location(self, key: str) -> str:
        return self._path(check_key(key))

    async def get(self, key: str) -> StoredImage:
        image = self.published.get(check_key(key))
        if image is None:
            raise ImageNotFound(f"no image {key} in store {self.store_name}")
        return StoredImage(key=key, path=self._path(key), size_bytes=image.size)

    async def list_images(self) -> list[StoredImage]:
        return [await self.get(k) for k in sorted(self.published)]

    async def delete(self, key: str) -> None:
        await self.discard(key)
        self.published.pop(key, None)

    async def import_image(self, key: str, source: StoredImage) -> StoredImage:
        if check_key(key) not in self.published:
            await self.faults.call("import_image", self.store_name)
            self.published[key] = _Published(b"", source.size_bytes, "qcow2")
        return await self.get(key)
