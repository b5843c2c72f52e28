"""Capacity (CloudStack's listCapacity), alerts (listAlerts) and usage from the hosts'
heartbeats (per VM and per host)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from strato.api.deps import CommandsDep
from strato.commands import capacity as commands
from strato.domain.fabric.capacity import (
    AlertView,
    CapacityEntry,
    HostUsage,
    Kind,
    Scope,
    VmUsage,
)

router = APIRouter(tags=["capacity"])


class CapacityList(BaseModel):
    items: list[CapacityEntry]


class AlertList(BaseModel):
    items: list[AlertView]


@router.get("/capacity", response_model=CapacityList, summary="Capacity and its allocation")
async def list_capacity(
    ctx: CommandsDep,
    zone_id: UUID | None = None,
    scope: Scope | None = None,
    kind: Kind | None = None,
) -> CapacityList:
    return CapacityList(items=await commands.capacity(ctx, zone_id, scope, kind))


@router.get("/alerts", response_model=AlertList, summary="Alerts (active ones by default)")
async def list_alerts(
    ctx: CommandsDep,
    all: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertList:
    return AlertList(items=await commands.list_alerts(ctx, active_only=not all, limit=limit))


@router.get("/vms/{id}/stats", response_model=VmUsage, tags=["vms"], summary="A VM's usage")
async def vm_stats(id: UUID, ctx: CommandsDep) -> VmUsage:
    return await commands.vm_usage(ctx, id)


@router.get(
    "/hosts/{id}/stats", response_model=HostUsage, tags=["hosts"], summary="A host's VMs' usage"
)
async def host_stats(id: UUID, ctx: CommandsDep) -> HostUsage:
    return await commands.host_usage(ctx, id)
