"""The template service's activities (queue ``templates``): fetch a template over HTTP into
an image store, verify it, publish it; copy it to another zone's store; delete it.

A download heartbeats its progress (:class:`TransferProgress`) every second, after making
the bytes written so far durable. A retried attempt (the service was killed, the
connection dropped) starts from the last heartbeat's position: it rebuilds the running
checksum from the staged bytes and asks the server for the rest with a ``Range`` request
(``If-Range`` the validator it saw, so a file changed meanwhile is fetched whole again).
Nothing is published until the whole image is there, its checksum matches and
``qemu-img info`` accepts it; a permanent failure discards what was staged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.activities.collect import activities_of
from strato.activities.storage.backup_store import BackupStoreActivities
from strato.activities.storage.fetch import Fetch, beat, permanent
from strato.domain.storage.payloads import ImageEntry
from strato.domain.storage.steps import (
    DELETE_STORED,
    DISCARD_STAGED,
    DOWNLOAD_TEMPLATE,
    IMPORT_TEMPLATE,
    LIST_IMAGES,
)
from strato.domain.storage.templates import (
    DownloadInput,
    ImageResult,
    ImportInput,
    StoreKey,
    StoreRef,
    TransferProgress,
    parse_checksum,
    template_key,
)
from strato.drivers.registry import load
from strato.drivers.storage.secondary import ImageNotFound, ImageUnreadable, SecondaryStorage


class TemplateActivities:
    def __init__(self, image_roots: Sequence[str]) -> None:
        self.image_roots = tuple(image_roots)
        self._stores: dict[tuple[str, str, str], SecondaryStorage] = {}

    def store(self, ref: StoreRef) -> SecondaryStorage:
        """One driver per store, kept (a simulated store lives in this process)."""
        key = (ref.name, ref.driver, ref.url)
        if key not in self._stores:
            cls = load("secondary", ref.driver)
            self._stores[key] = cls(ref.name, url=ref.url, image_roots=self.image_roots)
        return self._stores[key]

    @activity.defn(name=DOWNLOAD_TEMPLATE.name)
    async def download(self, inp: DownloadInput) -> ImageResult:
        """Idempotent: an image already published under the template's key is returned."""
        store = self.store(inp.store)
        key = template_key(inp.template_id)
        prev = _previous()
        if prev.phase == "publish" or (prev.phase == "download" and prev.done == 0):
            with contextlib.suppress(ImageNotFound):
                published = await store.get(key)
                if await store.staged_size(key) == 0:
                    return await _result(store, key, inp, published.path, published.size_bytes)
        digest: str | None = None
        if inp.uploaded_bytes is not None and prev.phase == "download":
            prev = await _uploaded(store, key, inp.uploaded_bytes)
        if prev.phase in ("download", "verify"):
            digest = await Fetch(store, key, inp, prev).run()
        if prev.phase != "publish":
            await self._check(store, key, inp, digest)
        published = await store.publish(key)
        return await _result(store, key, inp, published.path, published.size_bytes, digest)

    async def _check(
        self, store: SecondaryStorage, key: str, inp: DownloadInput, digest: str | None
    ) -> None:
        """Checksum, then the image itself; a refusal discards the staged bytes."""

        async def refuse(message: str, kind: str) -> ApplicationError:
            await store.discard(key)
            return permanent(message, kind)

        if inp.checksum and digest is not None:
            algo, want = parse_checksum(inp.checksum)
            if digest != want:
                raise await refuse(
                    f"checksum mismatch: the {algo} of what {inp.url} served is {digest}, "
                    f"not {want}",
                    "template-checksum-mismatch",
                )
        fmt = "raw" if inp.format in ("raw", "iso") else "qcow2"
        try:
            facts = await store.inspect(key, fmt)
        except ImageUnreadable as err:
            raise await refuse(
                f"{inp.url} is not a {inp.format} image: {err}", "template-invalid-image"
            ) from None
        if facts.backing_file:
            raise await refuse(
                f"{inp.url} has a backing file ({facts.backing_file}): a template must be "
                "standalone (it would read another file on the host)",
                "template-invalid-image",
            )
        if facts.data_file:
            raise await refuse(
                f"{inp.url} has an external data file ({facts.data_file}): refused",
                "template-invalid-image",
            )
        if facts.virtual_size > inp.max_bytes:
            raise await refuse(
                f"{inp.url} is a {facts.virtual_size}-byte disk, larger than the limit of "
                f"{inp.max_bytes} bytes",
                "template-too-large",
            )
        if inp.format == "raw" and inp.convert_raw:
            verifying = TransferProgress(
                phase="verify", done=facts.file_size, total=facts.file_size
            )
            beat(verifying)
            await _beating(store.convert(key, "raw", "qcow2"), verifying)
        beat(TransferProgress(phase="publish"))

    @activity.defn(name=DISCARD_STAGED.name)
    async def discard(self, inp: StoreKey) -> None:
        """Idempotent: what a failed download staged is gone; a published image stays."""
        await self.store(inp.store).discard(inp.key)

    @activity.defn(name=DELETE_STORED.name)
    async def delete(self, inp: StoreKey) -> None:
        """Idempotent: deleting a missing image succeeds."""
        await self.store(inp.store).delete(inp.key)

    @activity.defn(name=LIST_IMAGES.name)
    async def list_images(self, store: StoreRef) -> list[ImageEntry]:
        """Every published image of the store (for `strato doctor`). Read-only."""
        return [
            ImageEntry(key=i.key, size_bytes=i.size_bytes)
            for i in await self.store(store).list_images()
        ]

    @activity.defn(name=IMPORT_TEMPLATE.name)
    async def import_image(self, inp: ImportInput) -> ImageResult:
        """Idempotent: an image already in the target store is returned as it is."""
        source = self.store(inp.source)
        try:
            image = await source.get(inp.key)
        except ImageNotFound as err:
            raise permanent(str(err), "template-missing") from err
        target = self.store(inp.target)
        copied = await _beating(target.import_image(inp.key, image), TransferProgress(phase="copy"))
        qcow2 = await asyncio.to_thread(_is_qcow2, copied.path)
        facts = await target.inspect(inp.key, "qcow2" if qcow2 else "raw")
        return ImageResult(
            path=copied.path,
            size_bytes=copied.size_bytes,
            virtual_size=facts.virtual_size,
            format=facts.format,
        )

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)

    def with_backups(self) -> list[Callable[..., Any]]:
        """Its steps and the backup provider's, over the same stores (one driver per
        store: a simulated store lives in this process)."""
        return [*self.all(), *BackupStoreActivities(self.store).all()]


async def _uploaded(store: SecondaryStorage, key: str, size: int) -> TransferProgress:
    """An upload is staged whole: the fetch reads it back (the checksum), or it is lost."""
    staged = await store.staged_size(key)
    if staged != size:
        raise permanent(
            f"the uploaded image is gone from the image store's stage ({staged} of {size} "
            "bytes there): upload it again",
            "template-upload-lost",
        )
    return TransferProgress(done=size, total=size)


def _is_qcow2(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"QFI\xfb"
    except OSError:
        return True  # a simulated store: its images are qcow2 once published


def _previous() -> TransferProgress:
    details = activity.info().heartbeat_details
    if not details:
        return TransferProgress()
    first = details[0]
    return TransferProgress.model_validate(first if isinstance(first, dict) else dict(first))


async def _beating(call: Any, last: TransferProgress) -> Any:
    """Await ``call`` while heartbeating ``last`` again (a conversion is long)."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if done:
                return task.result()
            beat(last)
    finally:
        if not task.done():
            task.cancel()


async def _result(
    store: SecondaryStorage,
    key: str,
    inp: DownloadInput,
    path: str,
    size: int,
    digest: str | None = None,
) -> ImageResult:
    fmt = "raw" if inp.format == "iso" or (inp.format == "raw" and not inp.convert_raw) else "qcow2"
    facts = await store.inspect(key, fmt)
    algo = parse_checksum(inp.checksum)[0] if inp.checksum else None
    return ImageResult(
        path=path,
        size_bytes=size,
        virtual_size=facts.virtual_size,
        format="iso" if inp.format == "iso" else facts.format,
        checksum=f"{algo}:{digest}" if algo and digest else None,
    )
