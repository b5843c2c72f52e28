"""Read-only summaries for health and status."""

from __future__ import annotations

from typing import Any


async def ping(conn: Any) -> None:
    await conn.fetchval("SELECT 1")


async def platform_counts(conn: Any) -> dict[str, Any]:
    hosts = await conn.fetch("SELECT status, count(*) AS n FROM hosts GROUP BY status")
    return {
        "zones": await conn.fetchval("SELECT count(*) FROM zones"),
        "hosts": {r["status"]: r["n"] for r in hosts},
        "storage_pools": await conn.fetchval("SELECT count(*) FROM storage_pools"),
        "last_event_id": await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"),
    }
