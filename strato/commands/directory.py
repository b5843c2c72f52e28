"""The services directory's writes, for every front door (the REST API, the SDK)."""

from __future__ import annotations

from uuid import UUID

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.domain.directory.models import ServiceBeat, ServiceInstance, ServiceRegister
from strato.schema.directory import registry


async def register(ctx: CommandContext, body: ServiceRegister) -> ServiceInstance:
    await ctx.authorize(Action("service.register", "service"))
    async with ctx.db.tx() as conn:
        return await registry.register(conn, body)


async def beat(ctx: CommandContext, instance_id: UUID, body: ServiceBeat) -> ServiceInstance:
    await ctx.authorize(Action("service.heartbeat", "service", instance_id))
    async with ctx.db.tx() as conn:
        return await registry.beat(conn, instance_id, body)


async def deregister(ctx: CommandContext, instance_id: UUID) -> None:
    await ctx.authorize(Action("service.deregister", "service", instance_id))
    async with ctx.db.tx() as conn:
        await registry.deregister(conn, instance_id)
