"""The ACL service's limits: per account or per domain, per resource (-1: unlimited).
No row is no limit."""

from __future__ import annotations

from typing import Any
from uuid import UUID


async def set_limit(conn: Any, target_id: UUID, target_type: str, resource: str, max_: int) -> None:
    await conn.execute(
        """INSERT INTO acl_limits (target_id, target_type, resource, max) VALUES ($1, $2, $3, $4)
           ON CONFLICT (target_id, resource)
           DO UPDATE SET max = EXCLUDED.max, updated_at = clock_timestamp()""",
        target_id,
        target_type,
        resource,
        max_,
    )


async def limits_of(conn: Any, target_id: UUID) -> dict[str, int]:
    rows = await conn.fetch("SELECT resource, max FROM acl_limits WHERE target_id = $1", target_id)
    return {r["resource"]: r["max"] for r in rows}


async def lock_bounding(
    conn: Any, account_id: UUID, domain_ids: list[UUID], resource: str
) -> list[tuple[UUID, str, int]]:
    """The limits on ``resource`` that bound the account: its domains' (root first) and
    its own, as (target, type, max). The domains' limit rows are locked, root first,
    then the account's row was locked by the caller: every claim takes them in the same
    order, so concurrent claims in one domain tree queue up instead of deadlocking."""
    rows = await conn.fetch(
        """SELECT l.target_id, l.target_type, l.max FROM acl_limits l
           JOIN unnest($1::uuid[]) WITH ORDINALITY AS o(id, n) ON o.id = l.target_id
           WHERE l.resource = $2 AND l.max >= 0
           ORDER BY o.n FOR UPDATE OF l""",
        [*domain_ids, account_id],
        resource,
    )
    return [(r["target_id"], r["target_type"], r["max"]) for r in rows]
