"""Health (no key needed), a platform summary for `strato status`, and Prometheus
metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from strato import __version__
from strato.api.deps import CallerDep, CommandsDep, DbDep, SettingsDep, TemporalDep
from strato.commands import metrics
from strato.schema import stats

log = logging.getLogger(__name__)

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    temporal: str


@router.get("/health", response_model=Health)
async def health(db: DbDep, temporal: TemporalDep) -> Health:
    """Whether the API reaches its database and Temporal. Anyone may ask, so it says
    "ok" or "unavailable" and nothing else; the reason goes to the API's log."""
    try:
        async with db.conn() as conn:
            await stats.ping(conn)
        database = "ok"
    except Exception:
        log.exception("health: the database is unavailable")
        database = "unavailable"
    try:
        ok = await temporal.service_client.check_health()
        temporal_state = "ok" if ok else "unavailable"
    except Exception:
        log.exception("health: Temporal is unavailable")
        temporal_state = "unavailable"
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


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics: operations, hosts, VMs, alerts, capacity",
)
async def prometheus_metrics(ctx: CommandsDep) -> PlainTextResponse:
    return PlainTextResponse(
        await metrics.render(ctx), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
