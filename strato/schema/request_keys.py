"""Idempotency keys of requests that change at once (201): the answer kept with the key,
in the change's own transaction (operations keep theirs in ``operations``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from strato.schema.operations import lock_key


@dataclass(frozen=True)
class Seen:
    request_hash: str
    result: dict[str, Any]
    operation_id: UUID | None


async def claim(conn: Any, key: str) -> Seen | None:
    """Hold ``key`` until the transaction ends; what it answered before, if it did."""
    await lock_key(conn, key)
    row = await conn.fetchrow(
        "SELECT request_hash, result, operation_id FROM request_keys WHERE key = $1", key
    )
    if row is None:
        return None
    result = row["result"]
    return Seen(
        row["request_hash"],
        json.loads(result) if isinstance(result, str) else result,
        row["operation_id"],
    )


async def keep(
    conn: Any, key: str, request_hash: str, result: dict[str, Any], operation_id: UUID | None
) -> None:
    await conn.execute(
        "INSERT INTO request_keys (key, request_hash, result, operation_id) "
        "VALUES ($1, $2, $3, $4)",
        key,
        request_hash,
        result,
        operation_id,
    )
