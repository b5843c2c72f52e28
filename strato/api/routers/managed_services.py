"""Managed services: definitions run as system VMs by their reconciler (scale, roll out,
report metrics, see their instances)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.api.schemas.common import Filter, ListPage
from strato.commands import fleet as commands
from strato.domain.fleet.models import (
    ManagedService,
    MetricReport,
    ServiceDefinition,
    ServiceName,
    ServiceRollout,
    ServiceScale,
    ServiceStatus,
)
from strato.schema import repository
from strato.schema.fleet.services import MANAGED_SERVICES

router = APIRouter(prefix="/managed-services", tags=["managed services"])
PATH = "/api/v1/managed-services"


class ManagedServiceFilter(Filter):
    name: ServiceName | None = None


@router.get("", response_model=ListPage[ManagedService], summary="List managed services")
async def list_services(
    db: DbDep, _: CallerDep, flt: Annotated[ManagedServiceFilter, Query()]
) -> Any:
    return await list_response(db, MANAGED_SERVICES, flt)


@router.get("/{id}", response_model=ManagedService, summary="A managed service")
async def get_service(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, MANAGED_SERVICES, id)


@router.get(
    "/{id}/status",
    response_model=ServiceStatus,
    summary="A managed service with its instances and metrics",
)
async def service_status(id: UUID, db: DbDep, _: CallerDep) -> Any:
    return await commands.status(db, id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ManagedService,
    summary="Deploy a managed service (its reconciler starts at once)",
)
async def create_service(body: ServiceDefinition, ctx: CommandsDep, response: Response) -> Any:
    svc = await commands.create(ctx, body)
    response.headers["Location"] = f"{PATH}/{svc.id}"
    return svc


@router.post("/{id}/scale", response_model=ManagedService, summary="Change desired or bounds")
async def scale_service(id: UUID, body: ServiceScale, ctx: CommandsDep) -> Any:
    return await commands.scale(ctx, id, body)


@router.post("/{id}/rollout", response_model=ManagedService, summary="Roll out a new release")
async def rollout_service(id: UUID, body: ServiceRollout, ctx: CommandsDep) -> Any:
    return await commands.rollout(ctx, id, body)


@router.post(
    "/{id}/metrics",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Report a value of one of the service's custom metrics",
)
async def report_metric(id: UUID, body: MetricReport, ctx: CommandsDep) -> Response:
    await commands.report_metric(ctx, id, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ManagedService,
    summary="Delete a managed service (its instances are retired, then it is removed)",
)
async def delete_service(id: UUID, ctx: CommandsDep) -> Any:
    return await commands.delete(ctx, id)
