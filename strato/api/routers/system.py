"""Health (no key needed) and a platform summary for `strato status`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from strato import __version__
from strato.api.deps import CallerDep, DbDep, SettingsDep, TemporalDep
from strato.schema import stats

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    temporal: str


@router.get("/health", response_model=Health)
async def health(db: DbDep, temporal: TemporalDep) -> Health:
    try:
        async with db.conn() as conn:
            await stats.ping(conn)
        database = "ok"
    except Exception as err:
        database = f"error: {err}"
    try:
        ok = await temporal.service_client.check_health()
        temporal_state = "ok" if ok else "unhealthy"
    except Exception as err:
        temporal_state = f"error: {err}"
    status = "ok" if database == "ok" and temporal_state == "ok" else "degraded"
    return Health(status=status, version=__version__, database=database, temporal=temporal_state)


@router.get("/status", summary="Counts by state, URLs")
async def platform_status(db: DbDep, settings: SettingsDep, _: CallerDep) -> dict[str, Any]:
    async with db.conn() as conn:
        counts = await stats.platform_counts(conn)
    return {
        "version": __version__,
        "api": settings.resolved_api_url(),
        "temporal_ui": settings.resolved_temporal_ui_url(),
        **counts,
    }
