"""The CloudStack API's async jobs and resource tags, as stored."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4


async def create(
    conn: Any,
    *,
    operation_id: UUID | None,
    command: str,
    owner: str,
    user_id: str,
    instance_type: str,
    instance_id: UUID | None,
    item: str | None,
    result: dict[str, Any] | None,
) -> UUID:
    """A job: on its operation (``result``, if given, is what
    it answers once the operation succeeds), or done at once with ``result`` when
    there is none."""
    job_id = uuid4()  # its own: one operation may serve two jobs (a network's apply)
    done = operation_id is None
    await conn.execute(
        """INSERT INTO cloudstack_jobs (id, operation_id, command, owner, user_id,
               instance_type, instance_id, item, status, result, completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb,
                   CASE WHEN $9 = 1 THEN clock_timestamp() END)""",
        job_id,
        operation_id,
        command,
        owner,
        user_id,
        instance_type,
        instance_id,
        item,
        1 if done else 0,
        json.dumps(result) if result is not None else None,
    )
    return job_id


async def get(conn: Any, job_id: UUID, owners: list[str] | None) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT * FROM cloudstack_jobs
            WHERE id = $1 AND ($2::text[] IS NULL OR owner = ANY($2::text[]))""",
        job_id,
        owners,
    )
    return _row(row) if row is not None else None


async def page(
    conn: Any, owners: list[str] | None, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    where = "$1::text[] IS NULL OR owner = ANY($1::text[])"
    count = await conn.fetchval(f"SELECT count(*) FROM cloudstack_jobs WHERE {where}", owners)
    rows = await conn.fetch(
        f"""SELECT * FROM cloudstack_jobs WHERE {where}
             ORDER BY created_at DESC, id OFFSET $2 LIMIT $3""",
        owners,
        offset,
        limit,
    )
    return count, [_row(r) for r in rows]


async def settle(
    conn: Any, job_id: UUID, status: int, result_code: int, result: dict[str, Any]
) -> None:
    """Record a job's end (once: a job already settled keeps its first outcome)."""
    await conn.execute(
        """UPDATE cloudstack_jobs
              SET status = $2, result_code = $3, result = $4::jsonb,
                  completed_at = clock_timestamp()
            WHERE id = $1 AND status = 0""",
        job_id,
        status,
        result_code,
        json.dumps(result),
    )


def _row(row: Any) -> dict[str, Any]:
    found = dict(row)
    if isinstance(found.get("result"), str):
        found["result"] = json.loads(found["result"])
    return found


# -- tags ------------------------------------------------------------------------


async def add_tags(
    conn: Any, resource_type: str, resource_ids: list[UUID], tags: dict[str, str], owner: str
) -> None:
    for rid in resource_ids:
        for key, value in tags.items():
            await conn.execute(
                """INSERT INTO cloudstack_tags (resource_id, resource_type, key, value, owner)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (resource_id, key) DO UPDATE SET value = EXCLUDED.value""",
                rid,
                resource_type,
                key,
                value,
                owner,
            )


async def remove_tags(conn: Any, resource_ids: list[UUID], tags: dict[str, str | None]) -> int:
    removed = 0
    for rid in resource_ids:
        if not tags:
            status = await conn.execute("DELETE FROM cloudstack_tags WHERE resource_id = $1", rid)
            removed += int(status.split()[-1])
        for key, value in tags.items():
            status = await conn.execute(
                """DELETE FROM cloudstack_tags
                    WHERE resource_id = $1 AND key = $2 AND ($3::text IS NULL OR value = $3)""",
                rid,
                key,
                value,
            )
            removed += int(status.split()[-1])
    return removed


async def list_tags(
    conn: Any,
    owners: list[str] | None,
    filters: dict[str, Any],
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    args: list[Any] = [owners]
    where = ["($1::text[] IS NULL OR owner = ANY($1::text[]))"]
    for column in ("resource_type", "key", "value", "resource_id"):
        if filters.get(column) is not None:
            args.append(filters[column])
            op = "lower(resource_type) = lower(${n})" if column == "resource_type" else "{c} = ${n}"
            where.append(op.format(c=column, n=len(args)))
    clause = " AND ".join(where)
    count = await conn.fetchval(f"SELECT count(*) FROM cloudstack_tags WHERE {clause}", *args)
    rows = await conn.fetch(
        f"""SELECT * FROM cloudstack_tags WHERE {clause}
             ORDER BY created_at, resource_id, key
             OFFSET ${len(args) + 1} LIMIT ${len(args) + 2}""",
        *args,
        offset,
        limit,
    )
    return count, [dict(r) for r in rows]
