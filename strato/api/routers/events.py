"""Events as CloudEvents 1.0: a page after an id, or a server-sent-events stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from uuid import NAMESPACE_OID, UUID, uuid5

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from strato.api.deps import CallerDep, DbDep, SettingsDep
from strato.commands.auth import Caller
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
    caller: CallerDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    resource_id: UUID | None = None,
    type: TypePrefix = None,
) -> EventPage:
    async with db.conn() as conn:
        rows = await events.list_after(
            conn, after, limit, resource_id=resource_id, type_prefix=type, owners=caller.owners
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


def _wanted(ev: Event, resource_id: UUID | None, type_prefix: str | None, caller: Caller) -> bool:
    """The stream's filters, as :func:`events.list_after` applies them."""
    return (
        (resource_id is None or ev.resource_id == resource_id)
        and (type_prefix is None or ev.type.startswith(type_prefix))
        and (caller.owners is None or (ev.owner is not None and ev.owner in caller.owners))
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
    caller: Caller,
    key_id: UUID,
    streams: Streams,
    broadcaster: Broadcaster,
    still_valid: Callable[[], Awaitable[bool]] | None,
    check_s: float,
) -> AsyncIterator[bytes]:
    """The backlog after ``after`` (read by this stream, up to where the broadcaster
    started handing it events), then what the broadcaster hands it. ``after`` None:
    from now on."""
    streams.enter(key_id)  # counted while it runs: a stream never started holds nothing
    sub: Subscription | None = None
    try:
        # The broadcaster checks the core's keys; the authenticator's callers are
        # checked here (a revoked ACL key ends its streams too).
        sub = await broadcaster.subscribe(key_id, core_key=still_valid is None)
        if after is None:
            after = sub.floor
        yield b"retry: 1000\n\n"
        while after < sub.floor:
            async with db.conn() as conn:
                rows = await events.list_after(
                    conn,
                    after,
                    200,
                    resource_id=resource_id,
                    type_prefix=type_prefix,
                    owners=caller.owners,
                )
            rows = [e for e in rows if e.id <= sub.floor]
            for ev in rows:
                yield _frame(ev)
                after = ev.id
            if not rows:
                break
        after = max(after, sub.floor)
        idle = 0.0
        checked = asyncio.get_running_loop().time()
        while True:
            now = asyncio.get_running_loop().time()
            if still_valid is not None and now - checked >= check_s:
                checked = now
                if not await still_valid():
                    sub.end("the credentials of this stream were revoked")
            if sub.ended is not None:
                yield _closing(sub.ended)
                return
            rows = sub.take()
            for ev in rows:
                if ev.id > after and _wanted(ev, resource_id, type_prefix, caller):
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
    caller: CallerDep,
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
    key_id = caller.key_id or uuid5(NAMESPACE_OID, caller.name)
    streams.check(key_id, settings.max_streams_per_key)
    authenticator = getattr(request.app.state, "authenticator", None)
    still_valid = None
    if caller.principal is not None and authenticator is not None:

        async def still_valid() -> bool:
            return bool(await authenticator.still_valid(caller))

    return StreamingResponse(
        _stream(
            db,
            start,
            resource_id,
            type,
            caller=caller,
            key_id=key_id,
            streams=streams,
            broadcaster=request.app.state.broadcaster,
            still_valid=still_valid,
            check_s=settings.stream_key_check_s,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
