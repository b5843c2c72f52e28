"""Usage records under /api/v1/usage-records: an account's, by type and period."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from strato.api.deps import CallerDep, DbDep
from strato.domain.errors import InvalidInput
from strato.services.usage.ingest import TYPES
from strato.services.usage.schema import store

router = APIRouter(prefix="/usage-records", tags=["usage"])


class UsageRecord(BaseModel):
    account: str
    usage_type: str
    resource_id: UUID
    offering_id: UUID | None
    size_bytes: int | None
    start_at: datetime
    end_at: datetime
    hours: float
    quantity: float
    unit: str


class UsageFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(default=None, max_length=255)
    usage_type: Literal[TYPES] | None = None  # type: ignore[valid-type]
    start: datetime | None = None
    end: datetime | None = None
    resource_id: UUID | None = None
    limit: int = Field(default=1000, ge=1, le=10000)


@router.get("", response_model=list[UsageRecord], summary="Usage records, oldest first")
async def list_records(
    db: DbDep, caller: CallerDep, flt: Annotated[UsageFilter, Query()]
) -> list[UsageRecord]:
    if flt.start and flt.end and flt.start >= flt.end:
        raise InvalidInput("start must be before end", field="start")
    accounts = None if flt.account is None else [flt.account]
    if caller.owners is not None:  # an account's callers see their own usage only
        mine = sorted(caller.owners)
        accounts = [a for a in (accounts or mine) if a in caller.owners]
    async with db.conn() as conn:
        rows = await store.records(
            conn,
            accounts=accounts,
            usage_type=flt.usage_type,
            start=flt.start,
            end=flt.end,
            resource_id=flt.resource_id,
            limit=flt.limit,
        )
    return [UsageRecord.model_validate(r) for r in rows]
