"""The fabric's audit SQL for `strato doctor`: which agents can be asked, the database's
clock, and the record of a repair only an agent could apply."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from strato.schema import events


async def reachable(conn: Any) -> tuple[list[str], list[str], list[str]]:
    """Hosts and pools whose agents can answer, and a note for each that cannot."""
    hosts = await conn.fetch("SELECT name, status FROM hosts ORDER BY name")
    pools = await conn.fetch("SELECT name, state FROM storage_pools ORDER BY name")
    notes = [
        f"host {h['name']} is {h['status']}: not compared" for h in hosts if h["status"] != "Up"
    ]
    notes += [
        f"pool {p['name']} is {p['state']}: not compared" for p in pools if p["state"] != "Up"
    ]
    return (
        [h["name"] for h in hosts if h["status"] == "Up"],
        [p["name"] for p in pools if p["state"] == "Up"],
        notes,
    )


async def now(conn: Any) -> datetime:
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def record_repair(
    conn: Any,
    *,
    check: str,
    resource_type: str,
    resource_id: UUID | None,
    detail: str,
    fix: str,
) -> None:
    """The ``strato.doctor.repaired`` event of one applied fix."""
    await events.append(
        conn,
        "strato.doctor.repaired",
        resource_type,
        resource_id,
        payload={"check": check, "detail": detail, "fix": fix},
    )
