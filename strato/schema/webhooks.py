"""Webhook subscriptions, their deliveries, and the relay's positions in the outbox.

The relay fans events out into ``webhook_deliveries`` (one row per event and matching
subscription) in the same transaction that moves its position, so an event is queued
for every subscriber exactly once whatever crashes. Deliverers then take, per
subscription, the pending rows that head their resource (no earlier pending row of the
same resource), so one resource's events arrive in order while others go beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from strato.domain.errors import NotFound
from strato.domain.models import Event
from strato.domain.webhooks import Delivery, Webhook
from strato.schema.repository import TableSpec

WEBHOOKS = TableSpec("webhooks", "webhook", Webhook, state_column=None)

# The event relay's leadership: a session lock, held on the leader's own connection.
_LEADER_LOCK_KEY = 0x5374726174_03


async def leader(conn: Any) -> str | None:
    """The name of the relay that leads (its connection's application name), if any."""
    name: str | None = await conn.fetchval(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted
             AND l.objsubid = 1 AND (l.classid::bigint << 32) + l.objid::bigint = $1
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
        _LEADER_LOCK_KEY,
    )
    return name.removeprefix("strato-relay ") if name else None


async def try_lead(conn: Any) -> bool:
    """Take the relay's lead on ``conn`` if no other session holds it."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK_KEY)
    return taken


async def position(conn: Any, sink: str, *, new_from_now: bool = False) -> int:
    """The last event id ``sink`` took. A sink seen for the first time starts at 0 (the
    whole outbox), or after the newest event with ``new_from_now``."""
    await conn.execute(
        """INSERT INTO relay_positions (sink, position)
           VALUES ($1, CASE WHEN $2 THEN (SELECT coalesce(max(id), 0) FROM events) ELSE 0 END)
           ON CONFLICT DO NOTHING""",
        sink,
        new_from_now,
    )
    value: int = await conn.fetchval("SELECT position FROM relay_positions WHERE sink = $1", sink)
    return value


async def advance(conn: Any, sink: str, old: int, new: int) -> bool:
    """Move ``sink`` from ``old`` to ``new``; False if it was not at ``old`` (another
    relay moved it: this one is no longer the leader)."""
    status: str = await conn.execute(
        """UPDATE relay_positions SET position = $3, updated_at = clock_timestamp()
           WHERE sink = $1 AND position = $2""",
        sink,
        old,
        new,
    )
    return status.endswith(" 1")


async def subscriptions(conn: Any) -> list[tuple[Webhook, str]]:
    """Every enabled subscription, with its secret."""
    # KEY SHARE: a subscription deleted meanwhile waits for this fan-out to commit
    # (its deliveries then go with it), instead of failing the fan-out's inserts.
    rows = await conn.fetch(
        "SELECT * FROM webhooks WHERE enabled ORDER BY created_at, id FOR KEY SHARE"
    )
    return [(WEBHOOKS.to_model(r), r["secret"]) for r in rows]


async def queue(conn: Any, pairs: Sequence[tuple[UUID, Event]]) -> int:
    """Queue a delivery of each (subscription, event); a pair queued before is skipped."""
    if not pairs:
        return 0
    status: str = await conn.execute(
        """INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, resource_key)
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[])
           ON CONFLICT (webhook_id, event_id) DO NOTHING""",
        [w for w, _ in pairs],
        [e.id for _, e in pairs],
        [e.type for _, e in pairs],
        [str(e.resource_id or "") for _, e in pairs],
    )
    return int(status.rsplit(" ", 1)[1])


async def due(
    conn: Any, webhook_id: UUID, limit: int, window: int = 2000
) -> list[tuple[int, int, int]]:
    """(delivery id, event id, attempts so far) of pending deliveries that are due and
    head their resource: the first pending one of each resource, in event order, among
    the oldest ``window`` pending ones (one index range read, however long the backlog;
    a resource whose head is waiting for its retry holds back only its own)."""
    rows = await conn.fetch(
        """SELECT id, event_id, attempts, resource_key,
                  next_attempt_at <= clock_timestamp() AS ready
           FROM webhook_deliveries
           WHERE webhook_id = $1 AND state = 'pending'
           ORDER BY event_id LIMIT $2""",
        webhook_id,
        window,
    )
    seen: set[str] = set()
    heads: list[tuple[int, int, int]] = []
    for r in rows:
        if r["resource_key"] in seen:
            continue
        seen.add(r["resource_key"])
        if r["ready"]:
            heads.append((r["id"], r["event_id"], r["attempts"]))
            if len(heads) == limit:
                break
    if heads or len(rows) < window:
        return heads
    # The whole window is held back by heads waiting for their retry: look at every
    # resource's head (a longer read, only in that case).
    rows = await conn.fetch(
        """SELECT id, event_id, attempts FROM (
               SELECT DISTINCT ON (resource_key) id, event_id, attempts, next_attempt_at
               FROM webhook_deliveries
               WHERE webhook_id = $1 AND state = 'pending'
               ORDER BY resource_key, event_id) h
           WHERE next_attempt_at <= clock_timestamp()
           ORDER BY event_id LIMIT $2""",
        webhook_id,
        limit,
    )
    return [(r["id"], r["event_id"], r["attempts"]) for r in rows]


async def next_due_in(conn: Any, webhook_id: UUID) -> float | None:
    """Seconds until the subscription's next pending delivery is due (None: none)."""
    value: float | None = await conn.fetchval(
        """SELECT greatest(0, extract(epoch FROM min(next_attempt_at) - clock_timestamp()))
           FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'pending'""",
        webhook_id,
    )
    return None if value is None else float(value)


async def delivered(conn: Any, ids: Sequence[int], status: Sequence[int]) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries d
           SET state = 'delivered', attempts = d.attempts + 1, last_status = s.status,
               last_error = NULL, delivered_at = clock_timestamp()
           FROM unnest($1::bigint[], $2::int[]) AS s(id, status)
           WHERE d.id = s.id AND d.state = 'pending'""",
        list(ids),
        list(status),
    )


async def failed(
    conn: Any,
    delivery_id: int,
    *,
    status: int | None,
    error: str,
    retry_in: timedelta,
    max_attempts: int,
) -> str:
    """Record a failed attempt: pending again after ``retry_in``, or dead once it has
    had ``max_attempts``. The new state."""
    state: str | None = await conn.fetchval(
        """UPDATE webhook_deliveries
           SET attempts = attempts + 1, last_status = $2, last_error = $3,
               state = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END,
               next_attempt_at = clock_timestamp() + $4
           WHERE id = $1 AND state = 'pending' RETURNING state""",
        delivery_id,
        status,
        error[:2000],
        retry_in,
        max_attempts,
    )
    return state or "gone"


async def deliveries(
    conn: Any, webhook_id: UUID, state: str | None, after: int, limit: int
) -> list[Delivery]:
    rows = await conn.fetch(
        """SELECT * FROM webhook_deliveries
           WHERE webhook_id = $1 AND ($2::text IS NULL OR state = $2) AND id > $3
           ORDER BY id LIMIT $4""",
        webhook_id,
        state,
        after,
        limit,
    )
    return [Delivery.model_validate(dict(r)) for r in rows]


async def redeliver(conn: Any, webhook_id: UUID, delivery_id: int) -> Delivery:
    """A delivery (dead or delivered) queued again, with a fresh set of attempts."""
    row = await conn.fetchrow(
        """UPDATE webhook_deliveries
           SET state = 'pending', attempts = 0, next_attempt_at = clock_timestamp(),
               last_error = NULL, last_status = NULL, delivered_at = NULL
           WHERE id = $1 AND webhook_id = $2 RETURNING *""",
        delivery_id,
        webhook_id,
    )
    if row is None:
        raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id}", id=str(delivery_id))
    return Delivery.model_validate(dict(row))


async def events_by_id(conn: Any, ids: Sequence[int]) -> dict[int, Event]:
    rows = await conn.fetch(
        """SELECT id, time, type, resource_type, resource_id, old_state, new_state,
                  operation_id, payload
           FROM events WHERE id = ANY($1::bigint[])""",
        list(ids),
    )
    return {r["id"]: Event.model_validate(dict(r)) for r in rows}
