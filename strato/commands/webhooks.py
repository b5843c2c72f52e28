"""Webhook subscriptions: made, changed and removed here for every front door, each
checked whole before anything is written (the URL's scheme and where it resolves, every
type pattern against the event catalog, the resource types, the secret's length)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.domain.errors import InvalidInput
from strato.domain.webhooks import (
    Delivery,
    Webhook,
    WebhookCreate,
    WebhookUpdate,
    check_resource_types,
    check_types,
)
from strato.events import targets
from strato.schema import events, repository, webhooks
from strato.schema.webhooks import WEBHOOKS


async def _check_target(ctx: CommandContext, url: str, allow_internal: bool) -> None:
    networks = targets.parse_networks(ctx.settings.webhook_internal_networks)
    await targets.check(url, allow_internal=allow_internal, networks=networks)


async def create(ctx: CommandContext, body: WebhookCreate) -> Webhook:
    await ctx.authorize(Action("webhook.create", "webhook"))
    check_types(body.types)
    check_resource_types(body.resource_types)
    await _check_target(ctx, body.url, body.allow_internal)
    async with ctx.db.tx() as conn:
        since = await events.last_id(conn)
        return await repository.insert(conn, WEBHOOKS, {**body.model_dump(), "since_event": since})


async def update(
    ctx: CommandContext, webhook_id: UUID, body: WebhookUpdate, expected_version: int | None
) -> Webhook:
    await ctx.authorize(Action("webhook.update", "webhook", webhook_id))
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput(f"{field} cannot be null", field=field)
    if "types" in changes:
        check_types(changes["types"])
    if "resource_types" in changes:
        check_resource_types(changes["resource_types"])
    async with ctx.db.conn() as conn:
        current = await repository.get(conn, WEBHOOKS, webhook_id)
    if "url" in changes or "allow_internal" in changes:
        await _check_target(
            ctx,
            changes.get("url", current.url),
            changes.get("allow_internal", current.allow_internal),
        )
    async with ctx.db.tx() as conn:
        return await repository.update(
            conn, WEBHOOKS, webhook_id, changes, expected_version=expected_version
        )


async def delete(ctx: CommandContext, webhook_id: UUID) -> None:
    """The subscription and its deliveries (pending ones are not sent)."""
    await ctx.authorize(Action("webhook.delete", "webhook", webhook_id))
    async with ctx.db.tx() as conn:
        await repository.delete(conn, WEBHOOKS, webhook_id)


async def redeliver(ctx: CommandContext, webhook_id: UUID, delivery_id: int) -> Delivery:
    """A dead (or delivered) delivery queued again, with a fresh set of attempts."""
    await ctx.authorize(Action("webhook.redeliver", "webhook", webhook_id))
    async with ctx.db.tx() as conn:
        await repository.get(conn, WEBHOOKS, webhook_id)
        return await webhooks.redeliver(conn, webhook_id, delivery_id)
