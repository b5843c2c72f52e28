"""The transactional outbox: append in the writer's transaction, read in id order.

A consumer resumes "after id N", so an id must never become visible after a larger one.
Writers do not number their events (that needs a lock held until commit, which made
every writer wait for every other and could deadlock two writers that also lock rows):
they insert them without an id. Readers number them (:func:`number`): every committed
event without an id, in insertion order, in one block above the highest id so far, one
numbering at a time (a try-lock: a reader that finds another numbering reads what is
numbered already). A block commits before the next one is made, so a reader that sees an
id sees every smaller one, and an event committed later always gets a larger id. Two
changes to one resource are ordered by their row lock, so their events keep that order:
the second event is inserted, and its transaction commits, after the first's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain import events as catalog
from strato.domain.models import Event

# Taken (try-lock, transaction scope) by the one reader numbering events at a time.
_NUMBERING_LOCK_KEY = 0x5374726174_02
# Notified when events are committed (by a trigger on the outbox) and when they are
# numbered: the relay and the API's stream broadcasters listen.
CHANNEL = "strato_events"


async def append(
    conn: Any,
    type: str,
    resource_type: str,
    resource_id: UUID | None,
    *,
    old_state: str | None = None,
    new_state: str | None = None,
    payload: dict[str, Any] | None = None,
    operation_id: UUID | None = None,
    owner: str | None = None,
) -> None:
    """Write one event row, numbered when a reader next reads. Must run inside the
    transaction that made the change; takes no lock. ``owner``: its resource's owner,
    when the row no longer says it (else the outbox's trigger reads it from the row)."""
    if not conn.is_in_transaction():
        raise RuntimeError("events.append must run inside the changing transaction")
    catalog.check(type, payload)
    await conn.execute(
        """INSERT INTO events (type, resource_type, resource_id, old_state, new_state,
                               payload, operation_id, owner)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        type,
        resource_type,
        resource_id,
        old_state,
        new_state,
        payload or {},
        operation_id,
        owner,
    )


async def number(conn: Any) -> int:
    """Give ids to the committed events that have none; how many were numbered (0 also
    when another reader is numbering). Runs in its own transaction (a savepoint inside
    the caller's).

    Numbering notifies ``CHANNEL`` again: a reader that found the lock taken read
    before those ids were committed, and is woken to read them now (not after its next
    poll)."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _NUMBERING_LOCK_KEY):
            return 0
        status: str = await conn.execute(
            """WITH ready AS (
                   SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events
                   WHERE id IS NULL)
               UPDATE events e
               SET id = (SELECT coalesce(max(id), 0) FROM events) + ready.n
               FROM ready WHERE e.seq = ready.seq"""
        )
        numbered = int(status.rsplit(" ", 1)[1])
        if numbered:
            await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return numbered


async def list_after(
    conn: Any,
    after: int,
    limit: int = 100,
    *,
    resource_id: UUID | None = None,
    type_prefix: str | None = None,
    owners: frozenset[str] | None = None,
) -> list[Event]:
    """Events with ids above ``after``, in id order (the ready ones numbered first);
    ``owners``: only those about these owners' resources."""
    await number(conn)
    rows = await conn.fetch(
        """SELECT id, time, type, resource_type, resource_id, old_state, new_state,
                  operation_id, payload, owner
           FROM events
           WHERE id > $1
             AND ($2::uuid IS NULL OR resource_id = $2)
             AND ($3::text IS NULL OR type LIKE $3 || '%')
             AND ($5::text[] IS NULL OR owner = ANY($5::text[]))
           ORDER BY id LIMIT $4""",
        after,
        resource_id,
        type_prefix,
        limit,
        None if owners is None else sorted(owners),
    )
    return [Event.model_validate(dict(r)) for r in rows]


async def last_id(conn: Any) -> int:
    """The highest id so far: a stream "from now" starts after it."""
    await number(conn)
    value: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
    return value
