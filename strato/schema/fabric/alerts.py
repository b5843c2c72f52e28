"""Alerts: raised once per kind and resource while they hold, cleared when they no
longer do; each raise and clear writes its event (``strato.alert.raised``/``cleared``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.schema import events


async def raise_alert(
    conn: Any,
    kind: str,
    resource_type: str,
    resource_id: UUID,
    name: str,
    detail: str,
    *,
    host: str | None = None,
) -> bool:
    """Raise the alert unless it is already active; True if it was raised now."""
    inserted = await conn.fetchval(
        """INSERT INTO alerts (id, kind, resource_type, resource_id, name, detail)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (kind, resource_id) WHERE cleared_at IS NULL DO NOTHING
           RETURNING id""",
        uuid4(),
        kind,
        resource_type,
        resource_id,
        name,
        detail,
    )
    if inserted is None:
        return False
    payload: dict[str, Any] = {"kind": kind, "detail": detail}
    if host is not None:
        payload["host"] = host
    await events.append(conn, "strato.alert.raised", resource_type, resource_id, payload=payload)
    return True


async def clear_alert(conn: Any, kind: str, resource_id: UUID, detail: str) -> bool:
    """Clear the active alert, if any; True if one was cleared now."""
    row = await conn.fetchrow(
        """UPDATE alerts SET cleared_at = clock_timestamp()
           WHERE kind = $1 AND resource_id = $2 AND cleared_at IS NULL
           RETURNING resource_type""",
        kind,
        resource_id,
    )
    if row is None:
        return False
    await events.append(
        conn,
        "strato.alert.cleared",
        row["resource_type"],
        resource_id,
        payload={"kind": kind, "detail": detail},
    )
    return True


async def active_kinds(conn: Any, prefix: str) -> set[tuple[str, UUID]]:
    rows = await conn.fetch(
        "SELECT kind, resource_id FROM alerts WHERE cleared_at IS NULL AND kind LIKE $1",
        f"{prefix}%",
    )
    return {(r["kind"], r["resource_id"]) for r in rows}


async def listing(conn: Any, *, active_only: bool, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT * FROM alerts {"WHERE cleared_at IS NULL" if active_only else ""}
            ORDER BY raised_at DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]
