"""A webhook receiver as its own process (a test kills it with -9): it appends every
delivery it accepts to a JSON-lines file before it answers 204, with whether the
signature verified. ``python -m tests.events.receiver_proc PORT SECRET FILE``."""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from strato.events import signing


def main(port: int, secret: str, out: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signed = signing.verify(
                secret, body, self.headers.get(signing.SIGNATURE_HEADER, ""), now=time.time()
            )
            doc = json.loads(body)
            line = {"id": int(doc["id"]), "subject": doc.get("subject"), "signed": signed}
            os.write(fd, (json.dumps(line) + "\n").encode())
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # socketserver's default backlog is 5
        daemon_threads = True

    Server(("127.0.0.1", port), Hook).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
