"""Operations, read from Temporal through the operations index."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from strato.api.deps import CallerDep, DbDep, SettingsDep, TemporalDep
from strato.commands import view as operations
from strato.domain.errors import NotFound
from strato.schema import operations as repo
from strato.schema import owned

router = APIRouter(prefix="/operations", tags=["operations"])


class OperationFilter(BaseModel):
    """Recent operations, of one resource if given. Unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")

    resource_id: UUID | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@router.get("", response_model=list[operations.OperationView], summary="Recent operations")
async def list_operations(
    db: DbDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CallerDep,
    flt: Annotated[OperationFilter, Query()],
) -> list[operations.OperationView]:
    async with db.conn() as conn:
        records = await repo.list_recent(conn, resource_id=flt.resource_id, limit=flt.limit)
        if caller.owners is not None:  # only the operations on its owners' resources
            mine = await owned.owned_ids(conn, caller.owners, [r.resource_id for r in records])
            records = [r for r in records if r.resource_id in mine]
    ui = settings.resolved_temporal_ui_url()
    return [await operations.view(temporal, r, ui_url=ui, db=db) for r in records]


@router.get("/{id}", response_model=operations.OperationView, summary="One operation")
async def get_operation(
    id: UUID, db: DbDep, temporal: TemporalDep, settings: SettingsDep, caller: CallerDep
) -> operations.OperationView:
    async with db.conn() as conn:
        record = await repo.get(conn, id)
        if caller.owners is not None and not await owned.owned_ids(
            conn, caller.owners, [record.resource_id]
        ):
            raise NotFound(f"operation {id} does not exist", id=str(id))
    return await operations.view(
        temporal, record, ui_url=settings.resolved_temporal_ui_url(), db=db
    )
