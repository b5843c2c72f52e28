"""Webhook subscriptions and their deliveries (the event relay posts them)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Response, status

from strato.api.crud import list_response, parse_if_match
from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.api.schemas.common import Filter, ListPage, Name
from strato.commands import webhooks as commands
from strato.domain.webhooks import Delivery, DeliveryState, Webhook, WebhookCreate, WebhookUpdate
from strato.schema import repository, webhooks
from strato.schema.webhooks import WEBHOOKS

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookFilter(Filter):
    name: Name | None = None
    enabled: bool | None = None


@router.get("", response_model=ListPage[Webhook], summary="List webhook subscriptions")
async def list_webhooks(db: DbDep, _: CallerDep, flt: Annotated[WebhookFilter, Query()]) -> Any:
    return await list_response(db, WEBHOOKS, flt)


@router.get("/{id}", response_model=Webhook, summary="A webhook subscription")
async def get_webhook(id: UUID, db: DbDep, _: CallerDep, response: Response) -> Any:
    async with db.conn() as conn:
        hook = await repository.get(conn, WEBHOOKS, id)
    response.headers["ETag"] = f'"{hook.version}"'
    return hook


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Webhook,
    summary="Subscribe a URL to events (each delivery signed with the secret)",
)
async def create_webhook(body: WebhookCreate, ctx: CommandsDep, response: Response) -> Any:
    hook = await commands.create(ctx, body)
    response.headers["Location"] = f"/api/v1/webhooks/{hook.id}"
    response.headers["ETag"] = f'"{hook.version}"'
    return hook


@router.patch("/{id}", response_model=Webhook, summary="Change a webhook subscription")
async def update_webhook(
    id: UUID,
    body: WebhookUpdate,
    ctx: CommandsDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    hook = await commands.update(ctx, id, body, parse_if_match(if_match))
    response.headers["ETag"] = f'"{hook.version}"'
    return hook


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unsubscribe")
async def delete_webhook(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{id}/deliveries",
    response_model=list[Delivery],
    summary="A subscription's deliveries, with their attempts (state=dead: the dead letters)",
)
async def list_deliveries(
    id: UUID,
    db: DbDep,
    _: CallerDep,
    state: DeliveryState | None = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    async with db.conn() as conn:
        await repository.get(conn, WEBHOOKS, id)
        return await webhooks.deliveries(conn, id, state, after, limit)


@router.post(
    "/{id}/deliveries/{delivery_id}/redeliver",
    response_model=Delivery,
    summary="Queue a delivery again, with a fresh set of attempts",
)
async def redeliver(
    id: UUID,
    delivery_id: Annotated[int, Path(ge=1, le=2**62)],
    ctx: CommandsDep,
) -> Any:
    return await commands.redeliver(ctx, id, delivery_id)
