"""Workflows' event subscriptions: the relay signals each matching event to the workflow."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.api.schemas.common import Filter, ListPage
from strato.commands import event_signals as commands
from strato.domain.event_signals import EventSignal, EventSignalCreate, WorkflowId
from strato.schema import repository
from strato.schema.event_signals import EVENT_SIGNALS

router = APIRouter(prefix="/event-signals", tags=["events"])


class EventSignalFilter(Filter):
    workflow_id: WorkflowId | None = None


@router.get("", response_model=ListPage[EventSignal], summary="List workflows' subscriptions")
async def list_subscriptions(
    db: DbDep, _: CallerDep, flt: Annotated[EventSignalFilter, Query()]
) -> Any:
    return await list_response(db, EVENT_SIGNALS, flt)


@router.get("/{id}", response_model=EventSignal, summary="A workflow's subscription")
async def get_subscription(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, EVENT_SIGNALS, id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventSignal,
    summary="Signal a workflow each event of these types (strato.event), from now on",
)
async def create_subscription(body: EventSignalCreate, ctx: CommandsDep, response: Response) -> Any:
    sub = await commands.create(ctx, body)
    response.headers["Location"] = f"/api/v1/event-signals/{sub.id}"
    return sub


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unsubscribe")
async def delete_subscription(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
