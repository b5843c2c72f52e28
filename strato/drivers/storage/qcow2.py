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
import ctypes
import json
import os
import pwd
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import strato.drivers.hostfs as hostfs
from strato.domain.paths import DEFAULT_IMAGE_ROOTS, DEFAULT_POOL_ROOTS, PathRefused
from strato.domain.storage.specs import PoolFacts, SnapshotInfo, VolumeInfo, VolumeSpec
from strato.drivers.storage.base import (
    PrimaryStorage,
    ShrinkRefused,
    SnapshotNotFound,
    StorageError,
    TemplateUnusable,
    VolumeBusy,
    VolumeNotFound,
)


class PoolUnusable(StorageError):
    """The pool's directory cannot be used here (outside the pool roots, or closed to
    QEMU); retrying cannot help, the operator must act."""


# QEMU under libvirt's system instance runs as this user (Debian's default).
QEMU_USER = "libvirt-qemu"


def pool_path(url: str) -> str:
    """A pool URL (``file:///srv/pool`` or a plain absolute path) as a directory path."""
    path = url.removeprefix("file://")
    if not path.startswith("/"):
        raise StorageError(f"qcow2 pool URL must be file:///<absolute path>, not {url!r}")
    return path


def _opts(file: Path) -> list[str]:
    """``qemu-img snapshot`` takes no ``-f``: the format is pinned through image options
    (never probed from the file's content; a comma in the path is doubled)."""
    return ["--image-opts", f"driver=qcow2,file.filename={str(file).replace(',', ',,')}"]


def _die_with_agent() -> None:
    """In a qemu-img child: killed when the agent dies (a kill -9 of the agent must not
    leave a copy running that its retry would race)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _qemu_user() -> pwd.struct_passwd | None:
    """The user QEMU runs as, when this agent is root and that user exists (otherwise
    QEMU runs as whoever runs it: no separate reach to check)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(QEMU_USER)
    except KeyError:
        return None


class Qcow2PrimaryStorage(PrimaryStorage):
    name = "qcow2"
    capabilities: ClassVar[dict[str, str | bool]] = {
        "snapshot": "internal",  # qcow2 internal snapshots, inside the volume's file
        "data": True,
        "shrink": True,
    }

    def __init__(
        self,
        pool_name: str,
        *,
        path: str,
        qemu_img: str = "qemu-img",
        image_roots: Sequence[str] = (DEFAULT_IMAGE_ROOTS,),
        pool_roots: Sequence[str] = (DEFAULT_POOL_ROOTS,),
    ) -> None:
        self.pool_name = pool_name
        self.path = Path(pool_path(path))
        self.qemu_img = qemu_img
        self.image_roots = tuple(image_roots)
        self.pool_roots = tuple(pool_roots)
        self._reached = False  # QEMU was seen to reach the directory (asked once)

    async def _qemu_img(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.qemu_img,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_agent,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            why = err.decode().strip()
            if "lock" in why:
                raise VolumeBusy(f"a running guest holds the volume: {why}")
            raise StorageError(f"qemu-img {args[0]} failed: {why}")
        return out.decode()

    async def _info(self, file: Path) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(
            await self._qemu_img("info", "-U", "--output=json", str(file))
        )
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
        """Check the pool's directory (under the pool roots once resolved; reachable by
        QEMU) and make what is missing of it. Directories that exist keep their modes:
        the agent never opens a directory it did not create."""
        try:
            real = hostfs.allowed_dir(
                str(self.path),
                roots=self.pool_roots,
                what=f"pool {self.pool_name} directory",
                setting="STRATO_POOL_ROOTS",
            )
        except PathRefused as err:
            raise PoolUnusable(str(err)) from err
        Path(real).mkdir(mode=0o711, parents=True, exist_ok=True)
        qemu = None if self._reached else _qemu_user()
        if qemu is not None and not hostfs.can_search(qemu, real):
            raise PoolUnusable(
                f"QEMU (user {qemu.pw_name}) cannot reach pool {self.pool_name}'s directory "
                f"{self.path}: a directory on its way is closed to it. Choose a directory it "
                f"can reach, or open the way to that user alone "
                f"(setfacl -m u:{qemu.pw_name}:x <dir>)"
            )
        self._reached = True

    def _template(self, template_path: str) -> str:
        template = template_path.removeprefix("file://")
        try:
            return hostfs.allowed_file(
                template,
                roots=self.image_roots,
                not_in=self.pool_roots,
                what="template image",
                setting="STRATO_IMAGE_ROOTS",
            )
        except PathRefused as err:
            raise TemplateUnusable(str(err)) from err

    async def pool_facts(self) -> PoolFacts:
        await asyncio.to_thread(self._ensure_dir)
        st = await asyncio.to_thread(os.statvfs, self.path)
        return PoolFacts(
            capacity_bytes=st.f_blocks * st.f_frsize,
            used_bytes=(st.f_blocks - st.f_bfree) * st.f_frsize,
        )

    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        """Idempotent: an existing volume of that name is returned as it is."""
        await asyncio.to_thread(self._ensure_dir)  # first: the pool is where it may be
        file = self._file(spec.name)
        if await asyncio.to_thread(file.exists):
            return await self._volume(file)
        tmp = file.with_name(f".{file.name}.creating")
        args = ["create", "-q", "-f", "qcow2"]
        if spec.template_name:
            cached = self._file(spec.template_name)
            if not await asyncio.to_thread(cached.exists):
                raise TemplateUnusable(
                    f"template {spec.template_name} is not cached on pool {self.pool_name}"
                )
            args += ["-b", str(cached), "-F", "qcow2"]
        elif spec.template_path:
            template = await asyncio.to_thread(self._template, spec.template_path)
            if not os.access(template, os.R_OK):
                raise TemplateUnusable(f"template image {spec.template_path} is not readable")
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

    async def cache_template(self, name: str, source: str, size_bytes: int) -> VolumeInfo:
        """A byte copy of the published image (qcow2, checked when it was published),
        to a hidden name first, then renamed."""
        await asyncio.to_thread(self._ensure_dir)
        file = self._file(name)
        if await asyncio.to_thread(file.exists):
            return await self._volume(file)
        src = await asyncio.to_thread(self._template, source)
        tmp = file.with_name(f".{file.name}.creating")
        await asyncio.to_thread(shutil.copyfile, src, tmp)
        await asyncio.to_thread(os.replace, tmp, file)
        return await self._volume(file)

    async def import_volume(
        self, name: str, source: str, size_bytes: int, backing: str | None = None
    ) -> VolumeInfo:
        """A byte copy (internal snapshots travel in the file) to a hidden name, rebased
        without copying onto this pool's copy of its template, then renamed."""
        await asyncio.to_thread(self._ensure_dir)
        file = self._file(name)
        if await asyncio.to_thread(file.exists):
            return await self._volume(file)
        try:
            src = hostfs.allowed_file(
                source,
                roots=self.pool_roots,
                not_in=(),
                what="source volume",
                setting="STRATO_POOL_ROOTS",
            )
        except PathRefused as err:
            raise TemplateUnusable(str(err)) from err
        tmp = file.with_name(f".{file.name}.creating")
        await asyncio.to_thread(shutil.copyfile, src, tmp)
        if backing is not None:
            cached = self._file(backing)
            if not await asyncio.to_thread(cached.exists):
                raise TemplateUnusable(f"template {backing} is not cached on pool {self.pool_name}")
            await self._qemu_img(
                "rebase", "-u", "-f", "qcow2", "-b", str(cached), "-F", "qcow2", str(tmp)
            )
        await asyncio.to_thread(os.replace, tmp, file)
        return await self._volume(file)

    async def delete_volume(self, name: str) -> None:
        """Idempotent: deleting a missing volume succeeds."""
        await asyncio.to_thread(self._ensure_dir)
        for f in (self._file(name), self._file(name).with_name(f".{name}.qcow2.creating")):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(f.unlink)

    async def list_volumes(self) -> list[VolumeInfo]:
        await asyncio.to_thread(self._ensure_dir)
        files = await asyncio.to_thread(lambda: sorted(self.path.glob("*.qcow2")))
        return [await self._volume(f) for f in files]

    async def volume_info(self, name: str) -> VolumeInfo:
        return await self._volume(await self._existing(name))

    async def _existing(self, name: str) -> Path:
        await asyncio.to_thread(self._ensure_dir)
        file = self._file(name)
        if not await asyncio.to_thread(file.exists):
            raise VolumeNotFound(f"no volume {name} on pool {self.pool_name}")
        return file

    async def resize_volume(
        self, name: str, size_bytes: int, *, shrink_ok: bool = False
    ) -> VolumeInfo:
        file = await self._existing(name)
        current = int((await self._info(file))["virtual-size"])
        if size_bytes < current and not shrink_ok:
            raise ShrinkRefused(
                f"volume {name} is {current} bytes: shrinking it to {size_bytes} loses the "
                "data past the new end (shrink_ok allows it)"
            )
        if size_bytes != current:
            shrink = ["--shrink"] if size_bytes < current else []
            await self._qemu_img("resize", "-q", *shrink, "-f", "qcow2", str(file), str(size_bytes))
        return await self._volume(file)

    async def _snapshots(self, file: Path) -> list[SnapshotInfo]:
        info = await self._info(file)
        name = file.name.removesuffix(".qcow2")
        return [
            SnapshotInfo(name=s["name"], volume=name, taken_at=float(s.get("date-sec", 0)))
            for s in info.get("snapshots", [])
        ]

    async def create_snapshot(self, volume: str, snapshot: str) -> SnapshotInfo:
        file = await self._existing(volume)
        for s in await self._snapshots(file):
            if s.name == snapshot:
                return s
        await self._qemu_img("snapshot", "-q", "-c", snapshot, *_opts(file))
        return next(s for s in await self._snapshots(file) if s.name == snapshot)

    async def list_snapshots(self, volume: str) -> list[SnapshotInfo]:
        return await self._snapshots(await self._existing(volume))

    async def revert_snapshot(self, volume: str, snapshot: str) -> None:
        file = await self._existing(volume)
        if snapshot not in {s.name for s in await self._snapshots(file)}:
            raise SnapshotNotFound(f"volume {volume} has no snapshot {snapshot}")
        await self._qemu_img("snapshot", "-q", "-a", snapshot, *_opts(file))

    async def delete_snapshot(self, volume: str, snapshot: str) -> None:
        await asyncio.to_thread(self._ensure_dir)
        file = self._file(volume)
        if not await asyncio.to_thread(file.exists):
            return
        if snapshot in {s.name for s in await self._snapshots(file)}:
            await self._qemu_img("snapshot", "-q", "-d", snapshot, *_opts(file))

    async def export_snapshot(self, volume: str, snapshot: str, dest: str) -> VolumeInfo:
        """``qemu-img convert -U`` of the snapshot (shared: a running guest may hold the
        volume; the snapshot's clusters are never written while it exists) to a hidden
        name beside ``dest``, then renamed."""
        target = Path(dest)
        try:
            hostfs.allowed_dir(
                str(target.parent),
                roots=self.image_roots,
                what="snapshot export directory",
                setting="STRATO_IMAGE_ROOTS",
            )
        except PathRefused as err:
            raise TemplateUnusable(str(err)) from err
        if not await asyncio.to_thread(target.exists):
            await asyncio.to_thread(target.parent.mkdir, mode=0o755, parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            await self._convert_snapshot(volume, snapshot, tmp, "-U")
            await asyncio.to_thread(os.replace, tmp, target)
        info = await self._info(target)
        st = await asyncio.to_thread(os.stat, target)
        return VolumeInfo(
            name=target.name,
            path=str(target),
            size_bytes=int(info["virtual-size"]),
            allocated_bytes=st.st_size,
        )

    async def copy_snapshot(self, volume: str, snapshot: str, new: str) -> VolumeInfo:
        """``qemu-img convert`` of the snapshot into a new standalone qcow2 (written to a
        hidden name, then renamed: a half-made copy is never a volume)."""
        target = self._file(new)
        if await asyncio.to_thread(target.exists):
            return await self._volume(target)
        tmp = target.with_name(f".{target.name}.creating")
        await self._convert_snapshot(volume, snapshot, tmp)
        await asyncio.to_thread(os.replace, tmp, target)
        return await self._volume(target)

    async def _convert_snapshot(self, volume: str, snapshot: str, out: Path, *extra: str) -> None:
        """A standalone qcow2 of the volume's snapshot at ``out``."""
        file = await self._existing(volume)
        if snapshot not in {s.name for s in await self._snapshots(file)}:
            raise SnapshotNotFound(f"volume {volume} has no snapshot {snapshot}")
        snap = f"snapshot.name={snapshot}"
        await self._qemu_img(
            "convert", "-q", *extra, "-O", "qcow2", "-l", snap, *_opts(file), str(out)
        )
