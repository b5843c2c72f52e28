"""The secondary-storage contract: where templates and ISOs live in a zone (an NFS export
mounted at the same path on every host in production; a directory here).

An image is stored under a ``key`` (``template/<uuid>``). It is first *staged* (written,
possibly over several attempts: a download resumes where the last one stopped), then
*inspected* and maybe *converted* while staged, then *published* in one atomic step. A
published image is complete and verified; a staged one is never read by anyone but the
writer. ``tests/drivers/test_secondary_contract.py`` holds every implementation to the
post-conditions below.

Errors::

    StorageError (base.py)
     +-- ImageNotFound        no published image under that key: permanent
     +-- ImageUnreadable      the staged bytes are not an image of the declared format
     +-- StageGap             a write past the end of what is staged (a resume from a
                              position the stage does not reach): restart from its size
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel

from strato.drivers.storage.base import StorageError


class ImageNotFound(StorageError):
    """No published image under that key."""


class ImageUnreadable(StorageError):
    """The staged bytes are not an image of the format they were declared to be."""


class StageGap(StorageError):
    """A write starting past the end of the staged bytes."""


class ImageFacts(BaseModel):
    """What an image is, read from its content (``qemu-img info`` or its header)."""

    format: str
    virtual_size: int
    file_size: int
    backing_file: str | None = None
    data_file: str | None = None


class StoredImage(BaseModel):
    """A published image: ``path`` is where a host reads it (the store's mount)."""

    key: str
    path: str
    size_bytes: int


class StageWriter(abc.ABC):
    """Appends to one staged image; :meth:`sync` makes what was written durable.
    Blocking, like :meth:`SecondaryStorage.stage`: a transfer runs in a worker thread."""

    size: int

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def sync(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class SecondaryStorage(abc.ABC):
    name: str = "abstract"
    # "inspect": how image facts are read ("qemu-img", or "header": the qcow2 header
    # parsed, raw taken as its length); "data": published images are real files a host
    # can read (a pool can copy them).
    capabilities: ClassVar[dict[str, str | bool]] = {}

    @abc.abstractmethod
    async def staged_size(self, key: str) -> int:
        """How many bytes are staged under ``key`` (0 when nothing is)."""

    @abc.abstractmethod
    def stage(self, key: str, offset: int) -> StageWriter:
        """A writer appending at ``offset``: the staged bytes past ``offset`` are dropped
        first, so writing the same bytes from the same offset again is idempotent.
        Raises StageGap when ``offset`` is past the staged size. Blocking: call it (and
        the writer) from a worker thread."""

    @abc.abstractmethod
    def read_staged(self, key: str, limit: int) -> AsyncIterator[bytes]:
        """The first ``limit`` staged bytes, in chunks (to rebuild a running checksum
        when a download resumes)."""

    @abc.abstractmethod
    async def inspect(self, key: str, fmt: str) -> ImageFacts:
        """The staged image (the published one when nothing is staged) read as ``fmt``
        (qcow2 or raw; an ISO is raw). Raises ImageUnreadable when the bytes are not that
        format, ImageNotFound when there is neither. Read-only."""

    @abc.abstractmethod
    async def convert(self, key: str, source_fmt: str, target_fmt: str) -> ImageFacts:
        """Post-condition: the staged image, once published, is ``target_fmt`` with the
        same virtual content; the staged bytes themselves stay as they were (a resumed
        transfer still appends to them). Atomic: a crash leaves no half conversion."""

    @abc.abstractmethod
    async def publish(self, key: str) -> StoredImage:
        """Post-condition: the staged image is the published image ``key`` and nothing is
        staged. Atomic. Idempotent: with nothing staged and ``key`` published, returns
        it. Raises ImageNotFound when neither exists."""

    @abc.abstractmethod
    async def discard(self, key: str) -> None:
        """Post-condition: nothing staged under ``key``; the published image, if any, is
        untouched. Idempotent."""

    @abc.abstractmethod
    def location(self, key: str) -> str:
        """Where a host finds (or writes) the published image ``key``: a pool exports a
        snapshot there (PrimaryStorage.export_snapshot). No I/O."""

    @abc.abstractmethod
    async def get(self, key: str) -> StoredImage:
        """The published image ``key``. Raises ImageNotFound."""

    @abc.abstractmethod
    async def list_images(self) -> list[StoredImage]:
        """Every published image, by key."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Post-condition: neither a published nor a staged image ``key``. Idempotent."""

    @abc.abstractmethod
    async def import_image(self, key: str, source: StoredImage) -> StoredImage:
        """Post-condition: ``key`` is published here with the content of ``source`` (a
        published image of another store of the same kind, e.g. another zone's).
        Idempotent: an existing ``key`` is returned as it is."""


def qcow2_header(head: bytes, file_size: int) -> ImageFacts | None:
    """Facts from a qcow2 header (its first 104 bytes); None if ``head`` is not one."""
    if len(head) < 72 or head[:4] != b"QFI\xfb":
        return None
    version = int.from_bytes(head[4:8], "big")
    backing_offset = int.from_bytes(head[8:16], "big")
    backing_size = int.from_bytes(head[16:20], "big")
    size = int.from_bytes(head[24:32], "big")
    backing = None
    if backing_offset and backing_size and backing_offset + backing_size <= len(head):
        backing = head[backing_offset : backing_offset + backing_size].decode(errors="replace")
    elif backing_offset:
        backing = f"(at offset {backing_offset})"
    facts = ImageFacts(format="qcow2", virtual_size=size, file_size=file_size, backing_file=backing)
    if version >= 3 and len(head) >= 80:
        incompatible = int.from_bytes(head[72:80], "big")
        if incompatible & 0x4:  # QCOW2_INCOMPAT_DATA_FILE
            facts.data_file = "(external data file)"
    return facts


def check_key(key: str) -> str:
    """A key is ``<kind>/<name>``: plain segments, nothing that climbs out of the store."""
    parts = key.split("/")
    if len(parts) != 2 or any(not p or p.startswith(".") or "\x00" in p for p in parts):
        raise StorageError(f"image key {key!r} is not <kind>/<name>")
    return key
