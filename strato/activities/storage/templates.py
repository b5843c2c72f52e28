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
import hashlib
import http.client
import queue
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.activities.collect import activities_of
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

BEAT_EVERY_S = 1.0
# Connecting, and each read: a server silent this long fails the attempt (it is retried).
CONNECT_TIMEOUT_S = 60.0
CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _permanent(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


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
            digest = await _Fetch(store, key, inp, prev).run()
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
            return _permanent(message, kind)

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
            _beat(verifying)
            await _beating(store.convert(key, "raw", "qcow2"), verifying)
        _beat(TransferProgress(phase="publish"))

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
            raise _permanent(str(err), "template-missing") from err
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


async def _uploaded(store: SecondaryStorage, key: str, size: int) -> TransferProgress:
    """An upload is staged whole: the fetch reads it back (the checksum), or it is lost."""
    staged = await store.staged_size(key)
    if staged != size:
        raise _permanent(
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


def _beat(progress: TransferProgress) -> None:
    activity.heartbeat(progress.model_dump())


async def _beating(call: Any, last: TransferProgress) -> Any:
    """Await ``call`` while heartbeating ``last`` again (a conversion is long)."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if done:
                return task.result()
            _beat(last)
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


class _Fetch:
    """One attempt at fetching the rest of an image into the store's stage."""

    def __init__(
        self, store: SecondaryStorage, key: str, inp: DownloadInput, prev: TransferProgress
    ) -> None:
        self.store, self.key, self.inp, self.prev = store, key, inp, prev
        algo = parse_checksum(inp.checksum)[0] if inp.checksum else None
        self.algo = algo
        self.hasher: Any = hashlib.new(algo) if algo else None

    def _restart(self) -> None:
        self.hasher = hashlib.new(self.algo) if self.algo else None

    async def run(self) -> str | None:
        staged = await self.store.staged_size(self.key)
        offset = min(self.prev.done, staged)
        if offset and not self.prev.validator and offset != self.prev.total:
            # No ETag or Last-Modified to ask If-Range with: the rest might come from a
            # changed file, so it all comes again.
            offset = 0
        if offset and self.hasher is not None:
            async for chunk in self.store.read_staged(self.key, offset):
                await asyncio.to_thread(self.hasher.update, chunk)
                _beat(self.prev)  # reading a long stage back is progress too (throttled)
        if offset and self.prev.total is not None and offset == self.prev.total:
            return self._digest()  # all of it was there: nothing to ask the server
        await self._get(offset)
        return self._digest()

    def _digest(self) -> str | None:
        return self.hasher.hexdigest() if self.hasher is not None else None

    async def _get(self, offset: int) -> None:
        """The transfer runs in a worker thread (a blocking HTTP client: twice the
        throughput of an asyncio one here), the checksum in another; this coroutine
        heartbeats the durable position meanwhile."""
        self.progress = TransferProgress(
            done=offset, total=self.prev.total, validator=self.prev.validator
        )
        self.stop = threading.Event()
        job = asyncio.ensure_future(asyncio.to_thread(self._get_blocking, offset))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=BEAT_EVERY_S)
                _beat(self.progress)
            job.result()
        except _TooLarge as err:
            await self.store.discard(self.key)
            raise _permanent(str(err), "template-too-large") from None
        finally:
            self.stop.set()  # a cancelled attempt's thread ends at its next chunk
        _beat(self.progress.model_copy(update={"phase": "verify", "total": self.progress.done}))

    def _get_blocking(self, offset: int) -> None:
        inp = self.inp
        headers = {"Accept-Encoding": "identity", "User-Agent": "strato-template-service"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self.prev.validator:
                headers["If-Range"] = self.prev.validator
        try:
            resp = _open(inp.url, headers)
            try:
                offset, total = self._answer(resp, offset)
                validator = resp.getheader("ETag") or resp.getheader("Last-Modified")
                self._receive(resp, offset, total, validator)
            finally:
                resp.close()
        except (OSError, http.client.HTTPException) as err:
            # Unreachable, reset, timed out: worth another attempt (from where it got).
            raise ApplicationError(
                f"fetching {inp.url} failed: {type(err).__name__}: {err}",
                type="template-unreachable",
            ) from None  # the message says it all (the cause would replace it)

    def _answer(self, resp: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
        """Where this response starts and the image's full length (None: not said)."""
        url, status = self.inp.url, resp.status
        if status == 206 and offset:
            m = _RANGE.match(resp.getheader("Content-Range") or "")
            if m and int(m.group(1)) == offset:
                return offset, int(m.group(3)) if m.group(3) != "*" else None
        elif status == 200:
            if offset:
                self._restart()  # the server ignored the range (or the file changed)
            length = resp.getheader("Content-Length")
            return 0, int(length) if length and length.isdigit() else None
        if 400 <= status < 500 and status not in (408, 416, 429):
            raise _permanent(f"{url} answered HTTP {status} {resp.reason}", "template-http-error")
        raise ApplicationError(
            f"{url} answered HTTP {status} {resp.reason}", type="template-unreachable"
        )

    def _receive(
        self,
        resp: http.client.HTTPResponse,
        offset: int,
        total: int | None,
        validator: str | None,
    ) -> None:
        inp = self.inp
        if total is not None and total > inp.max_bytes:
            raise _TooLarge(
                f"{inp.url} is {total} bytes, larger than the limit of {inp.max_bytes} bytes"
            )
        hashing = _Hashing(self.hasher)
        writer = self.store.stage(self.key, offset)
        self.progress = TransferProgress(done=offset, total=total, validator=validator)
        buf = memoryview(bytearray(CHUNK))
        done, last = offset, time.monotonic()
        try:
            while n := resp.readinto(buf):
                if self.stop.is_set():
                    return  # the attempt was cancelled: what is written stays staged
                if done + n > inp.max_bytes:
                    raise _TooLarge(f"{inp.url} sent more than the limit of {inp.max_bytes} bytes")
                chunk = bytes(buf[:n])
                writer.write(chunk)
                hashing.feed(chunk)
                done += n
                if time.monotonic() - last >= BEAT_EVERY_S:
                    writer.sync()  # durable before it is promised to a retry
                    self.progress = TransferProgress(done=done, total=total, validator=validator)
                    last = time.monotonic()
            writer.sync()
        finally:
            hashing.finish()
            with contextlib.suppress(OSError):
                writer.close()
        self.progress = TransferProgress(done=done, total=total, validator=validator)
        if total is not None and done != total:
            raise ApplicationError(
                f"{inp.url}: the connection ended at {done} of {total} bytes",
                type="template-unreachable",
            )


def _open(url: str, headers: dict[str, str], redirects: int = 5) -> http.client.HTTPResponse:
    """GET ``url`` (http or https, following up to ``redirects`` redirections): the
    response, its body unread. The standard library's client: reading into a buffer it
    keeps pace with curl (an asyncio client here reached half of that)."""
    for _ in range(redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _permanent(f"{url} is not an http(s) URL", "template-http-error")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname,
                parts.port,
                timeout=CONNECT_TIMEOUT_S,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S)
        path = parts.path or "/"
        conn.request("GET", f"{path}?{parts.query}" if parts.query else path, headers=headers)
        resp = conn.getresponse()
        location = resp.getheader("Location")
        if resp.status in (301, 302, 303, 307, 308) and location:
            resp.close()
            conn.close()
            url = urljoin(url, location)
            continue
        return resp
    raise _permanent(f"{url}: more than {redirects} redirections", "template-http-error")


class _TooLarge(Exception):
    """The server offers or sends more than the registration's limit."""


class _Hashing:
    """A running checksum fed from the transfer's thread, computed in a thread of its own
    (hashlib releases the GIL on large buffers: the two run side by side)."""

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self.thread: threading.Thread | None = None
        if hasher is not None:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            self.hasher.update(chunk)

    def feed(self, chunk: bytes) -> None:
        if self.thread is not None:
            self.queue.put(chunk)

    def finish(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
