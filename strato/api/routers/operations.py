"""Operations, read from Temporal through the operations index."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from strato.api.deps import CallerDep, DbDep, SettingsDep, TemporalDep
from strato.commands import view as operations
from strato.schema import operations as repo

router = APIRouter(prefix="/operations", tags=["operations"])


@router.get("", response_model=list[operations.OperationView], summary="Recent operations")
async def list_operations(
    db: DbDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _: CallerDep,
    resource_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[operations.OperationView]:
    async with db.conn() as conn:
        records = await repo.list_recent(conn, resource_id=resource_id, limit=limit)
    ui = settings.resolved_temporal_ui_url()
    return [await operations.view(temporal, r, ui_url=ui) for r in records]


@router.get("/{id}", response_model=operations.OperationView, summary="One operation")
async def get_operation(
    id: UUID, db: DbDep, temporal: TemporalDep, settings: SettingsDep, _: CallerDep
) -> operations.OperationView:
    async with db.conn() as conn:
        record = await repo.get(conn, id)
    return await operations.view(temporal, record, ui_url=settings.resolved_temporal_ui_url())
