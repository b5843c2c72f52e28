"""Admin API keys: stored as SHA-256 of a 256-bit random secret, looked up by prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from strato.domain.errors import NotFound
from strato.domain.models import ApiKey

_PREFIX = "strato"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """Return (token, prefix, secret). The token is ``strato_<prefix>_<secret>``."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{_PREFIX}_{prefix}_{secret}", prefix, secret


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create(
    conn: Any, name: str, scope: str, *, bootstrap: bool = False
) -> tuple[ApiKey, str]:
    """Create a key; the clear token is returned once and never stored."""
    token, prefix, secret = new_token()
    row = await conn.fetchrow(
        """INSERT INTO api_keys (id, name, prefix, secret_hash, scope, is_bootstrap)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
        uuid4(),
        name,
        prefix,
        _hash(secret),
        scope,
        bootstrap,
    )
    return ApiKey.model_validate(dict(row)), token


async def create_bootstrap(conn: Any) -> str | None:
    """Issue the bootstrap admin key once per database; None if one was issued before."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('strato.bootstrap_key'))")
    if await conn.fetchval("SELECT 1 FROM api_keys WHERE is_bootstrap"):
        return None
    _, token = await create(conn, "bootstrap-admin", "admin", bootstrap=True)
    return token


async def authenticate(conn: Any, token: str) -> ApiKey | None:
    """The live key for ``token``, or None (unknown, wrong secret or revoked)."""
    parts = split_token(token)
    if parts is None:
        return None
    prefix, secret = parts
    row = await conn.fetchrow("SELECT * FROM api_keys WHERE prefix = $1", prefix)
    if row is None or row["revoked_at"] is not None:
        return None
    if not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        return None
    # last_used_at is kept to the minute: most requests (a client polling) write nothing.
    last = row["last_used_at"]
    if last is None or last < datetime.now(UTC) - timedelta(seconds=50):
        await conn.execute(
            "UPDATE api_keys SET last_used_at = clock_timestamp() WHERE id = $1 AND "
            "(last_used_at IS NULL OR last_used_at < clock_timestamp() - interval '1 minute')",
            row["id"],
        )
    return ApiKey.model_validate(dict(row))


async def live_among(conn: Any, key_ids: list[UUID]) -> set[UUID]:
    """Which of ``key_ids`` still exist unrevoked (one query for many long requests)."""
    rows = await conn.fetch(
        "SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL", key_ids
    )
    return {r["id"] for r in rows}


async def list_all(conn: Any) -> list[ApiKey]:
    rows = await conn.fetch("SELECT * FROM api_keys ORDER BY created_at, id")
    return [ApiKey.model_validate(dict(r)) for r in rows]


async def revoke(conn: Any, key_id: UUID) -> ApiKey:
    row = await conn.fetchrow(
        """UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())
           WHERE id = $1 RETURNING *""",
        key_id,
    )
    if row is None:
        raise NotFound(f"API key {key_id} does not exist", id=str(key_id))
    return ApiKey.model_validate(dict(row))
