"""Crafted values in query parameters and headers are 4xx problems naming the field, never
500s, and change nothing (issue #11, item 1)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.embedded.files import write_private
from strato.schema.db import Database
from strato.settings import Settings
from tests.helpers import make_fabric, ok, table_counts, unique


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CURSORS = [
    _cursor(["2024-01-01T00:00:00+00:00", 123]),  # a non-string id
    _cursor(["2024-01-01T00:00:00+00:00"]),
    _cursor({"a": 1}),
    _cursor(7),
    _cursor([None, None]),
    _cursor(["2024-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]),  # naive
    _cursor(["0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000000"]),
    _cursor(["9999-12-31T23:59:59-14:00", "00000000-0000-0000-0000-000000000000"]),
    "%%%",
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
]


@pytest.mark.parametrize("cursor", CURSORS)
async def test_a_crafted_cursor_is_422_on_every_list(
    api: httpx.AsyncClient, db: Database, cursor: str
) -> None:
    before = await table_counts(db)
    for path in ("/zones", "/hosts", "/vms", "/templates"):
        r = await api.get(path, params={"cursor": cursor})
        assert r.status_code in (400, 422), (path, cursor, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "cursor" in r.text
    assert await table_counts(db) == before


@pytest.mark.parametrize("value", [b"\xb2", b"\xd9\xa3", b"1" * 32, b"-1", b"", b"1e3", b"\xbd"])
async def test_a_crafted_last_event_id_is_422(api: httpx.AsyncClient, value: bytes) -> None:
    r = await api.get("/events/stream", headers={"Last-Event-ID": value})
    assert r.status_code == 422, (value, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Last-Event-ID" in r.text


@pytest.mark.parametrize("value", [b'"\xb2"', b'"9999999999999"', b'"-1"', b'W/"\xbd"', b'""'])
async def test_a_crafted_if_match_is_422_and_changes_nothing(
    api: httpx.AsyncClient, db: Database, value: bytes
) -> None:
    zone = await ok(await api.post("/zones", json={"name": "ifm"}), 201)
    before = await table_counts(db)
    r = await api.patch(
        f"/zones/{zone['id']}", json={"description": "x"}, headers={"If-Match": value}
    )
    assert r.status_code == 422, (value, r.status_code, r.text)
    assert "If-Match" in r.text
    assert await table_counts(db) == before
    assert (await ok(await api.get(f"/zones/{zone['id']}")))["version"] == zone["version"]


async def test_idempotency_keys_belong_to_their_caller(
    api: httpx.AsyncClient, db: Database
) -> None:
    """Another caller's same key is another request: it neither replays nor reveals the
    first caller's operation (issue #11, item 6)."""
    other_key = await ok(await api.post("/api-keys", json={"name": "other", "scope": "admin"}), 201)
    fab = await make_fabric(api)
    key = {"Idempotency-Key": "same-key"}
    mine = await ok(
        await api.post(
            "/hosts", json={"cluster_id": fab["cluster"]["id"], "name": unique("m")}, headers=key
        ),
        202,
    )
    theirs = await api.post(
        "/hosts",
        json={"cluster_id": fab["cluster"]["id"], "name": unique("t")},
        headers={**key, "Authorization": f"Bearer {other_key['token']}"},
    )
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["operation"]["id"] != mine["operation"]["id"]
    again = await ok(
        await api.post(
            "/hosts",
            json={"cluster_id": fab["cluster"]["id"], "name": mine["resource"]["name"]},
            headers=key,
        ),
        202,
    )
    assert again["operation"]["id"] == mine["operation"]["id"]  # still mine for me


async def test_unknown_operations_parameters_are_refused(api: httpx.AsyncClient) -> None:
    r = await api.get("/operations", params={"resource": "x"})
    assert r.status_code == 422 and "resource" in r.text


async def test_health_says_nothing_of_the_internals(
    settings: Settings, fresh_dsn: str, temporal_client: Client
) -> None:
    down = await Database.connect(fresh_dsn, max_size=1)
    await down.close()  # a database the API cannot use
    app = create_app(settings, db=down, temporal=temporal_client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://strato.test/api/v1"
        ) as client,
    ):
        r = await client.get("/health")
    body = r.json()
    assert body["status"] == "degraded" and body["database"] == "unavailable", body
    assert set(body) == {"status", "version", "database", "temporal"}
    assert "postgres" not in r.text.lower() and "error" not in r.text.lower()


def test_the_client_config_is_private_from_its_creation(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        fresh, existing = tmp_path / "new.json", tmp_path / "old.json"
        existing.write_text("{}")
        existing.chmod(0o644)
        write_private(fresh, '{"api_key": "k"}')
        write_private(existing, '{"api_key": "k"}')
    finally:
        os.umask(old)
    for path in (fresh, existing):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.read_text() == '{"api_key": "k"}'


@pytest.mark.parametrize("body", [None, "null"])
async def test_scale_without_a_body_is_422_and_changes_nothing(
    api: httpx.AsyncClient, platform: Any, db: Database, body: str | None
) -> None:
    """Found by the stateful fuzzer: `POST /vms/{id}/scale` with a JSON null body on a
    real VM was a 500 (the command read the missing body's offering)."""
    from tests.workflows.vm_helpers import running_vm, vm_zone

    vm_id = await running_vm(api, await vm_zone(api, hosts=1))
    before = await table_counts(db)
    r = await api.post(
        f"/vms/{vm_id}/scale",
        content=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await table_counts(db) == before
