"""The template service's HTTP fetch: one attempt at fetching the rest of an image into an
image store's stage, resuming with a ``Range`` request, hashing as it goes, heartbeating
its progress (see :mod:`strato.activities.storage.templates`)."""

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
from typing import Any
from urllib.parse import urljoin, urlsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.domain.storage.templates import DownloadInput, TransferProgress, parse_checksum
from strato.drivers.storage.secondary import SecondaryStorage

BEAT_EVERY_S = 1.0
# Connecting, and each read: a server silent this long fails the attempt (it is retried).
CONNECT_TIMEOUT_S = 60.0
CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED = re.compile(r"^bytes \*/(\d+)$")


def permanent(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def beat(progress: TransferProgress) -> None:
    activity.heartbeat(progress.model_dump())


class Fetch:
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
                beat(self.prev)  # reading a long stage back is progress too (throttled)
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
                beat(self.progress)
            job.result()
        except _TooLarge as err:
            await self.store.discard(self.key)
            raise permanent(str(err), "template-too-large") from None
        finally:
            self.stop.set()  # a cancelled attempt's thread ends at its next chunk
        beat(self.progress.model_copy(update={"phase": "verify", "total": self.progress.done}))

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
                if resp.status == 416 and offset:
                    self._unsatisfiable(resp, offset)
                    return
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

    def _unsatisfiable(self, resp: http.client.HTTPResponse, offset: int) -> None:
        """A range from ``offset`` asked of a server that has no byte there (416). If the
        image is ``offset`` bytes long (``Content-Range: bytes */<length>``), all of it
        was staged already (its length was not known when it came); otherwise it changed
        and comes again whole."""
        m = _UNSATISFIED.match(resp.getheader("Content-Range") or "")
        if m and int(m.group(1)) == offset:
            self.progress = self.progress.model_copy(update={"done": offset, "total": offset})
            return
        resp.close()
        self._restart()
        self.progress = self.progress.model_copy(update={"done": 0, "total": None})
        self._get_blocking(0)

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
            raise permanent(f"{url} answered HTTP {status} {resp.reason}", "template-http-error")
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
            raise permanent(f"{url} is not an http(s) URL", "template-http-error")
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
    raise permanent(f"{url}: more than {redirects} redirections", "template-http-error")


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
