"""A directory as secondary storage (an NFS export mounted at the same path on every host
in production). Published images are ``<dir>/<kind>/<name>``; a staged one is
``<dir>/<kind>/.<name>.part`` and becomes published by one rename, so a half-written
image is never under its published name. Facts come from ``qemu-img info`` with the
format pinned (never probed from the content); conversion is ``qemu-img convert``.

The directory must lie under the image roots (``STRATO_IMAGE_ROOTS``): a pool copies
published images from there, and the agents read nothing else as a template.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import strato.drivers.hostfs as hostfs
from strato.domain.paths import DEFAULT_IMAGE_ROOTS, PathRefused
from strato.drivers.storage.base import StorageError
from strato.drivers.storage.secondary import (
    ImageFacts,
    ImageNotFound,
    ImageUnreadable,
    SecondaryStorage,
    StageGap,
    StageWriter,
    StoredImage,
    check_key,
)

CHUNK = 1 << 20


class StoreUnusable(StorageError):
    """The store's directory cannot be used here (outside the image roots)."""


class _FileWriter(StageWriter):
    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class DirectorySecondaryStorage(SecondaryStorage):
    name = "directory"
    capabilities: ClassVar[dict[str, str | bool]] = {"inspect": "qemu-img", "data": True}

    def __init__(
        self,
        store_name: str,
        *,
        url: str,
        image_roots: Sequence[str] = (DEFAULT_IMAGE_ROOTS,),
        qemu_img: str = "qemu-img",
    ) -> None:
        self.store_name = store_name
        path = url.removeprefix("file://")
        if not path.startswith("/"):
            raise StoreUnusable(f"a directory store's URL is file:///<path>, not {url!r}")
        self.path = Path(path)
        self.image_roots = tuple(image_roots)
        self.qemu_img = qemu_img
        self._checked = False

    def _root(self) -> Path:
        if not self._checked:
            try:
                hostfs.allowed_dir(
                    str(self.path),
                    roots=self.image_roots,
                    what=f"image store {self.store_name} directory",
                    setting="STRATO_IMAGE_ROOTS",
                )
            except PathRefused as err:
                raise StoreUnusable(str(err)) from err
            self.path.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._checked = True
        return self.path

    def _published(self, key: str) -> Path:
        kind, name = check_key(key).split("/")
        return self._root() / kind / name

    def _staged(self, key: str) -> Path:
        kind, name = check_key(key).split("/")
        return self._root() / kind / f".{name}.part"

    async def _tool(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.qemu_img, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            why = err.decode().strip()
            for arg in args:  # the store's paths are its own business
                if arg.startswith("/"):
                    why = why.replace(f"'{arg}'", "the image").replace(arg, "the image")
            raise ImageUnreadable(f"qemu-img {args[0]}: {why}")
        return out.decode()

    async def staged_size(self, key: str) -> int:
        file = self._staged(key)
        try:
            return (await asyncio.to_thread(os.stat, file)).st_size
        except FileNotFoundError:
            return 0

    def stage(self, key: str, offset: int) -> StageWriter:
        file = self._staged(key)
        file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if offset > size:
            os.close(fd)
            raise StageGap(f"{key}: {size} bytes staged, cannot write from {offset}")
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        return _FileWriter(fd, offset)

    async def read_staged(self, key: str, limit: int) -> AsyncIterator[bytes]:
        file = self._staged(key)
        with open(file, "rb") as f:  # noqa: ASYNC230 - each read goes to a thread
            left = limit
            while left > 0:
                chunk = await asyncio.to_thread(f.read, min(CHUNK * 8, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    async def _facts(self, file: Path, fmt: str) -> ImageFacts:
        info: dict[str, Any] = json.loads(
            await self._tool("info", "--output=json", "-f", fmt, str(file))
        )
        specific = info.get("format-specific", {}).get("data", {})
        return ImageFacts(
            format=str(info.get("format", fmt)),
            virtual_size=int(info["virtual-size"]),
            file_size=(await asyncio.to_thread(os.stat, file)).st_size,
            backing_file=info.get("backing-filename") or info.get("full-backing-filename"),
            data_file=specific.get("data-file") or None,
        )

    async def inspect(self, key: str, fmt: str) -> ImageFacts:
        file = self._staged(key)
        if fmt == "qcow2" and await asyncio.to_thread(self._converted(key).exists):
            file = self._converted(key)
        elif not await asyncio.to_thread(file.exists):
            file = self._published(key)
            if not await asyncio.to_thread(file.exists):
                raise ImageNotFound(f"no image {key} in store {self.store_name}")
        return await self._facts(file, "raw" if fmt == "iso" else fmt)

    def _converted(self, key: str) -> Path:
        """The staged image converted, beside the downloaded bytes (which stay as they
        came, so a resumed download still appends to and hashes them)."""
        staged = self._staged(key)
        return staged.with_name(staged.name + ".converted")

    async def convert(self, key: str, source_fmt: str, target_fmt: str) -> ImageFacts:
        file, done = self._staged(key), self._converted(key)
        tmp = file.with_name(file.name + ".conv")
        await self._tool("convert", "-q", "-f", source_fmt, "-O", target_fmt, str(file), str(tmp))
        await asyncio.to_thread(os.replace, tmp, done)
        return await self._facts(done, target_fmt)

    async def publish(self, key: str) -> StoredImage:
        staged, published, done = self._staged(key), self._published(key), self._converted(key)
        if await asyncio.to_thread(done.exists):  # the converted image is what is published
            await asyncio.to_thread(os.replace, done, published)
        with contextlib.suppress(FileNotFoundError):
            if await asyncio.to_thread(published.exists):
                await asyncio.to_thread(staged.unlink)
            else:
                await asyncio.to_thread(os.replace, staged, published)
        return await self.get(key)

    async def discard(self, key: str) -> None:
        staged = self._staged(key)
        for file in (staged, staged.with_name(staged.name + ".conv"), self._converted(key)):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(file.unlink)

    def location(self, key: str) -> str:
        kind, name = check_key(key).split("/")
        return str(self.path / kind / name)

    async def get(self, key: str) -> StoredImage:
        file = self._published(key)
        try:
            st = await asyncio.to_thread(os.stat, file)
        except FileNotFoundError:
            raise ImageNotFound(f"no image {key} in store {self.store_name}") from None
        return StoredImage(key=key, path=str(file), size_bytes=st.st_size)

    async def list_images(self) -> list[StoredImage]:
        root = self._root()

        def walk() -> list[StoredImage]:
            found = []
            for kind in sorted(p for p in root.iterdir() if p.is_dir()):
                for f in sorted(kind.iterdir()):
                    if f.is_file() and not f.name.startswith("."):
                        key = f"{kind.name}/{f.name}"
                        found.append(StoredImage(key=key, path=str(f), size_bytes=f.stat().st_size))
            return found

        return await asyncio.to_thread(walk)

    async def delete(self, key: str) -> None:
        await self.discard(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._published(key).unlink)

    async def import_image(self, key: str, source: StoredImage) -> StoredImage:
        with contextlib.suppress(ImageNotFound):
            return await self.get(key)
        staged = self._staged(key)
        try:
            src = hostfs.allowed_file(
                source.path,
                roots=self.image_roots,
                not_in=(),
                what="source image",
                setting="STRATO_IMAGE_ROOTS",
            )
        except PathRefused as err:
            raise StoreUnusable(str(err)) from err

        def copy() -> None:
            staged.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            shutil.copyfile(src, staged)

        await asyncio.to_thread(copy)
        return await self.publish(key)
