"""The services directory: every component and service instance, its endpoints and
health; discovery by kind (and zone)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.commands import directory as commands
from strato.domain.directory.models import (
    Endpoint,
    Health,
    ServiceBeat,
    ServiceInstance,
    ServiceRegister,
)
from strato.domain.errors import InvalidInput
from strato.schema.directory import registry

router = APIRouter(prefix="/services", tags=["services directory"])

KindQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
ZoneQuery = Annotated[str | None, Query(max_length=64)]


@router.get("", response_model=list[ServiceInstance], summary="Every registered instance")
async def list_instances(
    db: DbDep,
    _: CallerDep,
    kind: KindQuery = None,
    zone: ZoneQuery = None,
    health: Health | None = None,
) -> Any:
    async with db.conn() as conn:
        return await registry.listing(conn, kind=kind, zone=zone, health=health)


@router.get(
    "/discover",
    response_model=list[Endpoint],
    summary="Endpoints of the healthy instances of a kind (passing first, then warning)",
)
async def discover(db: DbDep, _: CallerDep, kind: KindQuery, zone: ZoneQuery = None) -> Any:
    if kind is None:
        raise InvalidInput("kind is required", field="kind")
    async with db.conn() as conn:
        return await registry.endpoints(conn, kind, zone)


@router.get("/{id}", response_model=ServiceInstance, summary="One instance")
async def get_instance(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await registry.get(conn, id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceInstance,
    summary="Register an instance (again: same name, refreshed and passing)",
)
async def register(body: ServiceRegister, ctx: CommandsDep, response: Response) -> Any:
    instance = await commands.register(ctx, body)
    response.headers["Location"] = f"/api/v1/services/{instance.id}"
    return instance


@router.put(
    "/{id}/heartbeat",
    response_model=ServiceInstance,
    summary="A TTL heartbeat (404 once removed: register again)",
)
async def heartbeat(id: UUID, body: ServiceBeat, ctx: CommandsDep) -> Any:
    return await commands.beat(ctx, id, body)


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Deregister")
async def deregister(id: UUID, ctx: CommandsDep) -> Response:
    await commands.deregister(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
