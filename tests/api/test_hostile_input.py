"""Crafted values in query parameters and headers are 4xx problems naming the field, never
500s, and change nothing (issue #11, item 1)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import ok, table_counts


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
