"""The metadata service of a guest network's router: what cloud-init asks at
``http://169.254.169.254/latest/...`` (and at the router's own address, as CloudStack's
virtual router answers), each guest answered only about itself, by its source address.

Run by :class:`VirtualRouter` inside the router's namespace::

    python -m strato.drivers.network.metadata STATE_DIR ADDRESS...

``STATE_DIR/metadata.json`` maps each guest's address to its metadata and
``STATE_DIR/userdata/<address>`` holds its user data; both are read on every request, so
the router rewrites them and the server never restarts.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

META_KEYS = (
    "instance-id",
    "vm-id",
    "local-hostname",
    "hostname",
    "local-ipv4",
    "public-ipv4",
    "availability-zone",
    "public-keys/",
)


def answer(state: Path, guest: str, path: str) -> tuple[int, str]:
    """(status, body) for ``guest`` asking ``path``."""
    try:
        meta: dict[str, Any] = json.loads((state / "metadata.json").read_text()).get(guest) or {}
    except (OSError, ValueError):
        meta = {}
    if not meta:
        return 404, "not a guest of this network\n"
    path = "/" + path.strip("/")
    if path in ("/latest/user-data", "/latest/userdata"):
        data = state / "userdata" / guest
        return (200, data.read_text()) if data.exists() else (404, "no user data\n")
    if path == "/latest/meta-data":
        return 200, "\n".join(META_KEYS) + "\n"
    key = path.removeprefix("/latest/meta-data/")
    keys: list[str] = meta.get("public-keys", [])
    if key == "public-keys":
        return 200, "".join(f"{i}=key-{i}\n" for i in range(len(keys)))
    if key.startswith("public-keys/"):
        parts = key.split("/")
        if parts[1].isdigit() and int(parts[1]) < len(keys):
            if len(parts) == 2 or parts[2] == "":
                return 200, "openssh-key\n"
            if parts[2] == "openssh-key":
                return 200, keys[int(parts[1])] + "\n"
        return 404, "no such key\n"
    value = meta.get(key)
    if value is None or isinstance(value, list):
        return 404, "no such item\n"
    return 200, f"{value}\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer's own looks its address up in DNS (getfqdn): in a router namespace
        # whose resolver is unreachable that blocks for many seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def serve(state: Path, addresses: list[str], port: int = 80) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer(state, self.client_address[0], self.path.split("?")[0])
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    servers = [_Server((a, port), Handler) for a in addresses]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    (state / "metadata.ready").write_text("ok")
    for t in threads:
        t.join()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2:])
