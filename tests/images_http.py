"""A local HTTP server for template images (127.0.0.1, a thread): serves files of a
directory with Range and ETag support, optionally throttled, and logs every request (the
Range asked, the bytes sent) so a test can see a download resume."""

from __future__ import annotations

import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Served:
    path: str
    range: str | None
    status: int
    sent: int = 0


@dataclass
class ImageServer:
    root: Path
    port: int = 0
    # Bytes per second per response (0: as fast as it goes).
    rate: float = 0.0
    ranges: bool = True
    log: list[Served] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def sent(self, name: str) -> int:
        return sum(s.sent for s in self.log if s.path == f"/{name}")


def _handler(server: ImageServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:  # http.server's name for it
            file = server.root / self.path.lstrip("/")
            entry = Served(self.path, self.headers.get("Range"), 200)
            server.log.append(entry)
            if not file.is_file():
                entry.status = 404
                self.send_error(404, "Not Found")
                return
            size = file.stat().st_size
            etag = f'"{int(file.stat().st_mtime_ns)}-{size}"'
            start, end = 0, size - 1
            m = _RANGE.match(entry.range or "") if server.ranges else None
            if_range = self.headers.get("If-Range")
            if m and (if_range is None or if_range == etag):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                if start >= size:
                    entry.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                entry.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes" if server.ranges else "none")
            self.end_headers()
            self._send(file, start, end - start + 1, entry)

        def _send(self, file: Path, start: int, length: int, entry: Served) -> None:
            chunk = 64 << 10
            began = time.monotonic()
            with open(file, "rb") as f:
                f.seek(start)
                while length > 0:
                    data = f.read(min(chunk, length))
                    try:
                        self.wfile.write(data)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    entry.sent += len(data)
                    length -= len(data)
                    if server.rate:
                        ahead = entry.sent / server.rate - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)

    return Handler


@contextmanager
def serving(root: Path, *, rate: float = 0.0, ranges: bool = True) -> Iterator[ImageServer]:
    os.makedirs(root, exist_ok=True)
    server = ImageServer(root, rate=rate, ranges=ranges)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


if __name__ == "__main__":  # python -m tests.images_http DIR: serve DIR, print the port
    import sys

    with serving(Path(sys.argv[1])) as served:
        print(served.port, flush=True)
        threading.Event().wait()
