from __future__ import annotations

import httpx

from strato.schema.db import Database
from tests.helpers import ok, table_counts

PROBLEM = "application/problem+json"


async def test_missing_malformed_and_unknown_keys_are_401(
    api: httpx.AsyncClient, db: Database
) -> None:
    before = await table_counts(db)
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer strato_nope_nope"},
        {"Authorization": "Bearer x"},
    ):
        r = await api.post("/zones", json={"name": "z"}, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["www-authenticate"] == "Bearer"
    assert await table_counts(db) == before


async def test_health_needs_no_key(api: httpx.AsyncClient) -> None:
    r = await api.get("/health", headers={"Authorization": ""})
    assert (await ok(r))["status"] == "ok"


async def test_key_lifecycle_and_scopes(api: httpx.AsyncClient, db: Database) -> None:
    created = await ok(await api.post("/api-keys", json={"name": "ro", "scope": "read"}), 201)
    token = created["token"]
    assert token.startswith("strato_") and created["key"]["scope"] == "read"
    ro = {"Authorization": f"Bearer {token}"}
    assert (await api.get("/zones", headers=ro)).status_code == 200
    before = await table_counts(db)
    r = await api.post("/zones", json={"name": "z"}, headers=ro)
    assert r.status_code == 403 and r.json()["type"] == "/problems/forbidden"
    assert (await api.get("/api-keys", headers=ro)).status_code == 403
    assert await table_counts(db) == before

    listed = await ok(await api.get("/api-keys"))
    assert "secret_hash" not in listed[0] and "token" not in listed[0]
    revoked = await ok(await api.delete(f"/api-keys/{created['key']['id']}"))
    assert revoked["revoked_at"] is not None
    assert (await api.get("/zones", headers=ro)).status_code == 401
    # revoking twice is fine and keeps the first revocation time
    again = await ok(await api.delete(f"/api-keys/{created['key']['id']}"))
    assert again["revoked_at"] == revoked["revoked_at"]


async def test_key_secret_is_stored_hashed(api: httpx.AsyncClient, db: Database) -> None:
    created = await ok(await api.post("/api-keys", json={"name": "h"}), 201)
    secret = created["token"].split("_", 2)[2]
    async with db.conn() as conn:
        stored = await conn.fetchval(
            "SELECT secret_hash FROM api_keys WHERE id = $1::uuid", created["key"]["id"]
        )
        assert secret not in stored and len(stored) == 64
