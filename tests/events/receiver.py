"""A real HTTP server receiving webhook deliveries: it checks each signature, records
what came, and can be told to fail, to be slow, or to stop and come back on its port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from strato.events import signing
from tests.conftest import free_port


@dataclass
class Received:
    event_id: int
    type: str
    subject: str | None
    signed: bool
    at: float
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    got: list[Received] = field(default_factory=list)
    status: int = 204  # what it answers
    delay_s: float = 0.0  # how long it takes to answer
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        signed = signing.verify(
            self.secret, body, request.headers.get(signing.SIGNATURE_HEADER, ""), now=time.time()
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        doc = json.loads(body)
        if 200 <= self.status < 300:
            assert int(request.headers[signing.EVENT_ID_HEADER]) == int(doc["id"])
            self.got.append(
                Received(int(doc["id"]), doc["type"], doc.get("subject"), signed, time.time(), doc)
            )
        return Response(status_code=self.status)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    def ids(self) -> list[int]:
        return [r.event_id for r in self.got]


@contextlib.asynccontextmanager
async def receiving(secret: str, **kw: Any) -> Any:
    r = Receiver(secret, **kw)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
