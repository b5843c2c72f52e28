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

from strato.api.deps import CallerDep, DbDep
from strato.domain.errors import InvalidInput
from strato.domain.fields import ascii_number
from strato.schema import events
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


async def _stream(
    request: Request, db: Database, after: int, resource_id: UUID | None, type_prefix: str | None
) -> AsyncIterator[bytes]:
    idle = 0.0
    yield b"retry: 1000\n\n"
    while not await request.is_disconnected():
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


@router.get(
    "/stream",
    summary="Server-sent events; resumes after Last-Event-ID",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    db: DbDep,
    _: CallerDep,
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
    return StreamingResponse(
        _stream(request, db, start, resource_id, type),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
