"""Workflows' event subscriptions, checked whole before anything is written."""

from __future__ import annotations

from uuid import UUID

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.domain.event_signals import EventSignal, EventSignalCreate
from strato.domain.webhooks import check_types
from strato.schema import events, repository
from strato.schema.event_signals import EVENT_SIGNALS


async def create(ctx: CommandContext, body: EventSignalCreate) -> EventSignal:
    await ctx.authorize(Action("event-signal.create", "event_signal"))
    check_types(body.types)
    async with ctx.db.tx() as conn:
        since = await events.last_id(conn)
        return await repository.insert(
            conn, EVENT_SIGNALS, {**body.model_dump(), "since_event": since}
        )


async def delete(ctx: CommandContext, sub_id: UUID) -> None:
    await ctx.authorize(Action("event-signal.delete", "event_signal", sub_id))
    async with ctx.db.tx() as conn:
        await repository.delete(conn, EVENT_SIGNALS, sub_id)
