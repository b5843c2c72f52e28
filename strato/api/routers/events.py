"""Events as CloudEvents 1.0: a page after an id, or a server-sent-events stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from strato.api.deps import CallerDep, DbDep, SettingsDep
from strato.domain.errors import InvalidInput, TooManyRequests
from strato.domain.fields import ascii_number
from strato.schema import api_keys, events
from strato.schema.db import Database

router = APIRouter(prefix="/events", tags=["events"])

TypePrefix = Annotated[str | None, Query(max_length=128, pattern=r"^[a-z0-9._]+$")]


class EventPage(BaseModel):
    items: list[dict[str, Any]]
    last_id: int


@router.get("", response_model=EventPage, summary="Events after an id, in order")
async def list_events(
    db: DbDep,
    _: CallerDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    resource_id: UUID | None = None,
    type: TypePrefix = None,
) -> EventPage:
    async with db.conn() as conn:
        rows = await events.list_after(
            conn, after, limit, resource_id=resource_id, type_prefix=type
        )
    last = rows[-1].id if rows else after
    return EventPage(items=[e.cloudevent() for e in rows], last_id=last)


class Streams:
    """Open event streams per API key, in this API process."""

    def __init__(self) -> None:
        self.open: dict[UUID, int] = {}

    def check(self, key_id: UUID, limit: int) -> None:
        """Refuse (429) a stream beyond the key's limit, before the response starts."""
        if self.open.get(key_id, 0) >= limit:
            raise TooManyRequests(
                f"this API key already has {limit} event streams open; close one first",
                limit=limit,
            )

    def enter(self, key_id: UUID) -> None:
        self.open[key_id] = self.open.get(key_id, 0) + 1

    def leave(self, key_id: UUID) -> None:
        self.open[key_id] -= 1
        if not self.open[key_id]:
            del self.open[key_id]


def _closing(reason: str) -> bytes:
    data = json.dumps({"reason": reason}, separators=(",", ":"))
    return f"event: strato.stream.closed\ndata: {data}\n\n".encode()


async def _stream(
    request: Request,
    db: Database,
    after: int,
    resource_id: UUID | None,
    type_prefix: str | None,
    *,
    key_id: UUID,
    check_s: float,
    streams: Streams,
) -> AsyncIterator[bytes]:
    idle = 0.0
    checked = asyncio.get_running_loop().time()
    streams.enter(key_id)  # counted while it runs: a stream never started holds nothing
    try:
        yield b"retry: 1000\n\n"
        while not await request.is_disconnected():
            now = asyncio.get_running_loop().time()
            if now - checked >= check_s:
                checked = now
                async with db.conn() as conn:
                    live = await api_keys.is_live(conn, key_id)
                if not live:
                    yield _closing("the API key of this stream was revoked")
                    return
            async with db.conn() as conn:
                rows = await events.list_after(
                    conn, after, 200, resource_id=resource_id, type_prefix=type_prefix
                )
            for ev in rows:
                after = ev.id
                data = json.dumps(ev.cloudevent(), separators=(",", ":"))
                yield f"id: {ev.id}\nevent: {ev.type}\ndata: {data}\n\n".encode()
            if rows:
                idle = 0.0
                continue
            await asyncio.sleep(0.25)
            idle += 0.25
            if idle >= 15:
                idle = 0.0
                yield b": keep-alive\n\n"
    finally:
        streams.leave(key_id)


@router.get(
    "/stream",
    summary="Server-sent events; resumes after Last-Event-ID",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    db: DbDep,
    key: CallerDep,
    settings: SettingsDep,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    resource_id: UUID | None = None,
    type: TypePrefix = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    start = after
    if last_event_id is not None:
        start = ascii_number(last_event_id, max_value=2**62)
        if start is None:
            raise InvalidInput(
                "Last-Event-ID must be an event id this API sent", field="Last-Event-ID"
            )
    if start is None:
        async with db.conn() as conn:
            start = await events.last_id(conn)
    streams: Streams = request.app.state.streams
    streams.check(key.id, settings.max_streams_per_key)
    return StreamingResponse(
        _stream(
            request,
            db,
            start,
            resource_id,
            type,
            key_id=key.id,
            check_s=settings.stream_key_check_s,
            streams=streams,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
