"""Events as CloudEvents 1.0: a page after an id, or a server-sent-events stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from strato.api.deps import CallerDep, DbDep, SettingsDep
from strato.domain import events as catalog
from strato.domain.errors import InvalidInput, TooManyRequests
from strato.domain.fields import ascii_number
from strato.domain.models import Event
from strato.events.broadcast import Broadcaster, Subscription
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


class EventTypeInfo(BaseModel):
    type: str
    resource: str
    summary: str
    payload: dict[str, Any]


@router.get("/types", response_model=list[EventTypeInfo], summary="The event-type catalog")
async def list_types(_: CallerDep) -> list[EventTypeInfo]:
    return [
        EventTypeInfo(
            type=et.type,
            resource=et.resource,
            summary=et.summary,
            payload=et.payload.model_json_schema(),
        )
        for et in catalog.catalog()
    ]


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


def _wanted(ev: Event, resource_id: UUID | None, type_prefix: str | None) -> bool:
    """The stream's filters, as :func:`events.list_after` applies them."""
    return (resource_id is None or ev.resource_id == resource_id) and (
        type_prefix is None or ev.type.startswith(type_prefix)
    )


def _frame(ev: Event) -> bytes:
    data = json.dumps(ev.cloudevent(), separators=(",", ":"))
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {data}\n\n".encode()


async def _stream(
    db: Database,
    after: int | None,
    resource_id: UUID | None,
    type_prefix: str | None,
    *,
    key_id: UUID,
    streams: Streams,
    broadcaster: Broadcaster,
) -> AsyncIterator[bytes]:
    """The backlog after ``after`` (read by this stream, up to where the broadcaster
    started handing it events), then what the broadcaster hands it. ``after`` None:
    from now on."""
    streams.enter(key_id)  # counted while it runs: a stream never started holds nothing
    sub: Subscription | None = None
    try:
        sub = await broadcaster.subscribe(key_id)
        if after is None:
            after = sub.floor
        yield b"retry: 1000\n\n"
        while after < sub.floor:
            async with db.conn() as conn:
                rows = await events.list_after(
                    conn, after, 200, resource_id=resource_id, type_prefix=type_prefix
                )
            rows = [e for e in rows if e.id <= sub.floor]
            for ev in rows:
                yield _frame(ev)
                after = ev.id
            if not rows:
                break
        after = max(after, sub.floor)
        idle = 0.0
        while True:
            if sub.ended is not None:
                yield _closing(sub.ended)
                return
            rows = sub.take()
            for ev in rows:
                if ev.id > after and _wanted(ev, resource_id, type_prefix):
                    yield _frame(ev)
                after = max(after, ev.id)
            if rows:
                idle = 0.0
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.wake.wait(), 1.0)
            idle += 1.0
            if idle >= 15:
                idle = 0.0
                yield b": keep-alive\n\n"
    finally:
        if sub is not None:
            broadcaster.unsubscribe(sub)
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
    streams: Streams = request.app.state.streams
    streams.check(key.id, settings.max_streams_per_key)
    return StreamingResponse(
        _stream(
            db,
            start,
            resource_id,
            type,
            key_id=key.id,
            streams=streams,
            broadcaster=request.app.state.broadcaster,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
