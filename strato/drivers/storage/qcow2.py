"""A directory of qcow2 files as a primary storage pool (local disk, or a shared mount such
as NFS that every host of the cluster sees at the same path).

Volumes are ``<path>/<name>.qcow2``, created with ``qemu-img`` (a subprocess, never run on
the event loop's thread). A template-backed volume is a thin qcow2 overlay on the template
image. Creation writes a temporary file and renames it, so a crash mid-create never
leaves a half-made volume under the final name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from strato.domain.storage.specs import PoolFacts, VolumeInfo, VolumeSpec
from strato.drivers.storage.base import PrimaryStorage


class StorageError(RuntimeError):
    """qemu-img or the pool directory failed."""


class TemplateUnusable(StorageError):
    """The template a volume should be cloned from cannot be used (missing, bad URL)."""


def pool_path(url: str) -> str:
    """A pool URL (``file:///srv/pool`` or a plain absolute path) as a directory path."""
    path = url.removeprefix("file://")
    if not path.startswith("/"):
        raise StorageError(f"qcow2 pool URL must be file:///<absolute path>, not {url!r}")
    return path


class Qcow2PrimaryStorage(PrimaryStorage):
    name = "qcow2"

    def __init__(self, pool_name: str, *, path: str, qemu_img: str = "qemu-img") -> None:
        self.pool_name = pool_name
        self.path = Path(pool_path(path))
        self.qemu_img = qemu_img

    async def _qemu_img(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.qemu_img,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise StorageError(f"qemu-img {args[0]} failed: {err.decode().strip()}")
        return out.decode()

    async def _info(self, file: Path) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(await self._qemu_img("info", "--output=json", str(file)))
        return info

    def _file(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise StorageError(f"volume name {name!r} is not a plain file name")
        return self.path / f"{name}.qcow2"

    async def _volume(self, file: Path) -> VolumeInfo:
        info = await self._info(file)
        return VolumeInfo(
            name=file.name.removesuffix(".qcow2"),
            path=str(file),
            size_bytes=int(info["virtual-size"]),
            allocated_bytes=int(info.get("actual-size", 0)),
        )

    def _ensure_dir(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # QEMU runs as libvirt-qemu: it must traverse every directory on the way.
        d = self.path
        while d != d.parent:
            mode = d.stat().st_mode
            if not mode & 0o001:
                os.chmod(d, mode | 0o001)
            d = d.parent

    async def pool_facts(self) -> PoolFacts:
        await asyncio.to_thread(self._ensure_dir)
        st = await asyncio.to_thread(os.statvfs, self.path)
        return PoolFacts(
            capacity_bytes=st.f_blocks * st.f_frsize,
            used_bytes=(st.f_blocks - st.f_bfree) * st.f_frsize,
        )

    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        """Idempotent: an existing volume of that name is returned as it is."""
        file = self._file(spec.name)
        if await asyncio.to_thread(file.exists):
            return await self._volume(file)
        await asyncio.to_thread(self._ensure_dir)
        tmp = file.with_name(f".{file.name}.creating")
        args = ["create", "-q", "-f", "qcow2"]
        if spec.template_path:
            template = spec.template_path.removeprefix("file://")
            if not template.startswith("/") or not os.access(template, os.R_OK):
                raise TemplateUnusable(
                    f"template image {spec.template_path} is not a readable local file"
                )
            fmt = str((await self._info(Path(template))).get("format", "raw"))
            args += ["-b", template, "-F", fmt]
        await self._qemu_img(*args, str(tmp), str(spec.size_bytes))
        await asyncio.to_thread(os.replace, tmp, file)
        # What qemu-img just made is known: no second qemu-img run to read it back.
        st = await asyncio.to_thread(os.stat, file)
        return VolumeInfo(
            name=spec.name,
            path=str(file),
            size_bytes=spec.size_bytes,
            allocated_bytes=st.st_blocks * 512,
        )

    async def delete_volume(self, name: str) -> None:
        """Idempotent: deleting a missing volume succeeds."""
        for f in (self._file(name), self._file(name).with_name(f".{name}.qcow2.creating")):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(f.unlink)

    async def list_volumes(self) -> list[VolumeInfo]:
        files = await asyncio.to_thread(lambda: sorted(self.path.glob("*.qcow2")))
        return [await self._volume(f) for f in files]
