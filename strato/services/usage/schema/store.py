"""The usage service's SQL: its position, intervals, the hourly aggregation, records."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from strato.domain.models import Event
from strato.services.usage.ingest import RUNNING_VM, SIZED, Close, Facts, Open, Reopen

_GIB = float(1 << 30)


async def state(conn: Any, *, lock: bool = False) -> tuple[int, datetime | None]:
    row = await conn.fetchrow(
        "SELECT position, aggregated_until FROM usage_state WHERE id = 1"
        + (" FOR UPDATE" if lock else "")
    )
    return row["position"], row["aggregated_until"]


async def set_position(conn: Any, position: int) -> None:
    await conn.execute("UPDATE usage_state SET position = $1 WHERE id = 1", position)


async def facts(conn: Any, event: Event) -> Facts:
    """The offering of a VM, the size of a volume or snapshot, from its row."""
    if event.resource_type == "vm":
        offering = await conn.fetchval(
            "SELECT service_offering_id FROM vms WHERE id = $1", event.resource_id
        )
        return Facts(offering_id=offering)
    table = {"volume": "volumes", "snapshot": "snapshots"}.get(event.resource_type)
    if table is None:
        return Facts()
    size = await conn.fetchval(f"SELECT size_bytes FROM {table} WHERE id = $1", event.resource_id)
    return Facts(size_bytes=size)


async def apply(conn: Any, change: Open | Close | Reopen) -> None:
    """One change; applying it again changes nothing (its event's id is on the rows)."""
    if isinstance(change, Close | Reopen):
        closed = await conn.fetchrow(
            """UPDATE usage_intervals SET ended_at = $3, end_event = $4
               WHERE usage_type = $1 AND resource_id = $2 AND ended_at IS NULL
                 AND start_event < $4
               RETURNING account, offering_id, size_bytes""",
            change.usage_type,
            change.resource_id,
            change.at,
            change.event_id,
        )
        if isinstance(change, Close) or closed is None:
            return
        change = Open(
            change.usage_type,
            change.resource_id,
            closed["account"],
            change.at,
            change.event_id,
            offering_id=change.offering_id or closed["offering_id"],
            size_bytes=change.size_bytes if change.size_bytes is not None else closed["size_bytes"],
        )
    if change.usage_type == RUNNING_VM:
        # It runs with the offering it is allocated with (kept through its scale events),
        # not whatever its row says by the time this event is read.
        allocated = await conn.fetchval(
            """SELECT offering_id FROM usage_intervals
               WHERE usage_type = 'ALLOCATED_VM' AND resource_id = $1 AND ended_at IS NULL""",
            change.resource_id,
        )
        if allocated is not None:
            change = Open(**{**change.__dict__, "offering_id": allocated})
    await conn.execute(
        """INSERT INTO usage_intervals (account, usage_type, resource_id, offering_id,
                                        size_bytes, started_at, start_event)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        change.account,
        change.usage_type,
        change.resource_id,
        change.offering_id,
        change.size_bytes,
        change.at,
        change.event_id,
    )


async def first_start(conn: Any) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT min(started_at) FROM usage_intervals")
    return value


async def aggregate(conn: Any, start: datetime, end: datetime) -> int:
    """The records of the period [start, end), and the state moved past it: in the
    caller's transaction, so a period is aggregated once. How many records."""
    rows = await conn.fetch(
        """WITH spans AS (
               SELECT account, usage_type, resource_id, offering_id, size_bytes, started_at,
                      EXTRACT(EPOCH FROM least(coalesce(ended_at, 'infinity'), $2)
                                         - greatest(started_at, $1)) / 3600.0 AS hours
               FROM usage_intervals
               WHERE started_at < $2 AND coalesce(ended_at, 'infinity') > $1)
           INSERT INTO usage_records (account, usage_type, resource_id, offering_id,
                                      size_bytes, start_at, end_at, hours, quantity, unit)
           SELECT account, usage_type, resource_id,
                  (array_agg(offering_id ORDER BY started_at DESC))[1],
                  (array_agg(size_bytes ORDER BY started_at DESC))[1],
                  $1, $2, sum(hours),
                  CASE WHEN usage_type = ANY($3::text[])
                       THEN sum(hours * coalesce(size_bytes, 0) / $4) ELSE sum(hours) END,
                  CASE WHEN usage_type = ANY($3::text[]) THEN 'GiB-hours' ELSE 'hours' END
           FROM spans WHERE hours > 0
           GROUP BY account, usage_type, resource_id
           ON CONFLICT (usage_type, resource_id, start_at, account) DO NOTHING
           RETURNING 1""",
        start,
        end,
        sorted(SIZED),
        _GIB,
    )
    await conn.execute("UPDATE usage_state SET aggregated_until = $1 WHERE id = 1", end)
    return len(rows)


async def records(
    conn: Any,
    *,
    accounts: list[str] | None,
    usage_type: str | None,
    start: datetime | None,
    end: datetime | None,
    resource_id: UUID | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM usage_records
           WHERE ($1::text[] IS NULL OR account = ANY($1::text[]))
             AND ($2::text IS NULL OR usage_type = $2)
             AND ($3::timestamptz IS NULL OR start_at >= $3)
             AND ($4::timestamptz IS NULL OR end_at <= $4)
             AND ($5::uuid IS NULL OR resource_id = $5)
           ORDER BY start_at, usage_type, resource_id LIMIT $6""",
        accounts,
        usage_type,
        start,
        end,
        resource_id,
        limit,
    )
    return [dict(r) for r in rows]
