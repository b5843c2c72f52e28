"""Server-sent events over a real HTTP server: live delivery and resume by Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn
from temporalio.client import Client

from strato.api.app import create_app
from strato.schema import api_keys, events
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import free_port


@contextlib.asynccontextmanager
async def _serve_app(settings: Settings, db: Database, temporal: Client) -> AsyncIterator[Any]:
    """The API on a real port (streams need a real server), stopped afterwards: its URL
    and the app."""
    port = free_port()
    app = create_app(settings, db=db, temporal=temporal)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/api/v1", app
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def _serve(settings: Settings, db: Database, temporal: Client) -> AsyncIterator[str]:
    async with _serve_app(settings, db, temporal) as (url, _app):
        yield url


@pytest.fixture
async def live_url(settings: Settings, db: Database, temporal_client: Client) -> AsyncIterator[str]:
    async with _serve(settings, db, temporal_client) as url:
        yield url


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    n: int,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with client.stream("GET", url, headers=headers, params=params) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "data" in current:
                got.append(current)
                current = {}
                if len(got) == n:
                    break
    return got


async def test_stream_delivers_live_and_resumes(live_url: str, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=live_url, headers=auth, timeout=20) as client:
        for i in range(3):
            assert (await client.post("/zones", json={"name": f"s{i}"})).status_code == 201

        async def later() -> None:
            await asyncio.sleep(0.5)
            assert (await client.post("/zones", json={"name": "live"})).status_code == 201

        writer = asyncio.create_task(later())
        first = await asyncio.wait_for(
            read_events(client, "/events/stream", 4, params={"after": 0}), 15
        )
        await writer
        assert [e["data"]["type"] for e in first] == ["strato.zone.created"] * 4
        assert first[-1]["data"]["data"]["name"] == "live"
        ids = [e["id"] for e in first]
        assert ids == sorted(ids)

        resumed = await asyncio.wait_for(
            read_events(client, "/events/stream", 2, headers={"Last-Event-ID": str(ids[1])}), 15
        )
        assert [e["id"] for e in resumed] == ids[2:4]

        bad = await client.get("/events/stream", headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 422


@pytest.fixture
def settings_for_streams(settings: Settings) -> Settings:
    return settings.model_copy(update={"stream_key_check_s": 0.3, "max_streams_per_key": 2})


@pytest.fixture
async def strict_url(
    settings_for_streams: Settings, db: Database, temporal_client: Client
) -> AsyncIterator[str]:
    async with _serve(settings_for_streams, db, temporal_client) as url:
        yield url


async def test_a_stream_ends_saying_why_when_its_key_is_revoked(
    strict_url: str, admin_token: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=strict_url, headers=admin, timeout=20) as client:
        created = (await client.post("/api-keys", json={"name": "reader", "scope": "read"})).json()
        reader = {"Authorization": f"Bearer {created['token']}"}
        lines: list[str] = []

        async def follow() -> None:
            async with client.stream("GET", "/events/stream", headers=reader) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    lines.append(line)

        stream = asyncio.create_task(follow())
        await asyncio.sleep(0.5)
        assert not stream.done()
        assert (await client.delete(f"/api-keys/{created['key']['id']}")).status_code == 200
        await asyncio.wait_for(stream, 10)  # the server ended it
    assert "event: strato.stream.closed" in lines, lines
    assert any("revoked" in line for line in lines if line.startswith("data: "))


async def test_open_streams_per_key_are_bounded(
    settings_for_streams: Settings, db: Database, temporal_client: Client, admin_token: str
) -> None:
    """A key with its limit of streams open gets a 429 problem for one more; a stream that
    ends gives its place back."""
    app = create_app(settings_for_streams, db=db, temporal=temporal_client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://strato.test/api/v1",
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as client,
    ):
        me = (await client.get("/api-keys")).json()
        key_id = UUID(next(k for k in me if k["name"] == "test-admin")["id"])
        streams = app.state.streams
        streams.enter(key_id)
        streams.enter(key_id)  # two open: the limit
        refused = await client.get("/events/stream")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        streams.leave(key_id)
        streams.check(key_id, 2)  # one place free again: no refusal
        streams.leave(key_id)
        assert streams.open == {}


async def test_a_hundred_streams_cost_the_database_what_one_costs(
    settings: Settings,
    db: Database,
    temporal_client: Client,
    admin_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API's one broadcaster reads the outbox for every stream: the same 20 events
    reach 1 stream, then 100, for the same outbox reads and key checks (every read of
    events and of key liveness in the API process is counted)."""
    counts = {"events": 0, "keys": 0}

    def counted(kind: str, fn: Any) -> Any:
        async def wrapper(*args: Any, **kw: Any) -> Any:
            counts[kind] += 1
            return await fn(*args, **kw)

        return wrapper

    monkeypatch.setattr(events, "list_after", counted("events", events.list_after))
    monkeypatch.setattr(api_keys, "live_among", counted("keys", api_keys.live_among))
    roomy = settings.model_copy(update={"max_streams_per_key": 200, "stream_key_check_s": 0.5})
    auth = {"Authorization": f"Bearer {admin_token}"}
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with (
        _serve_app(roomy, db, temporal_client) as (url, app),
        httpx.AsyncClient(base_url=url, headers=auth, timeout=60, limits=limits) as client,
    ):
        broadcaster = app.state.broadcaster

        async def phase(streams: int, tag: str) -> tuple[dict[str, int], list[Any], float]:
            readers = [
                asyncio.create_task(read_events(client, "/events/stream", 20))
                for _ in range(streams)
            ]
            while len(broadcaster.subscriptions) < streams:
                await asyncio.sleep(0.05)
            before = dict(counts)
            t0 = asyncio.get_running_loop().time()
            for i in range(20):
                r = await client.post("/zones", json={"name": f"{tag}{i}"})
                assert r.status_code == 201
            got = await asyncio.wait_for(asyncio.gather(*readers), 60)
            took = asyncio.get_running_loop().time() - t0
            return {k: counts[k] - before[k] for k in counts}, got, took

        one, _, one_s = await phase(1, "a")
        many, got, many_s = await phase(100, "b")
    assert all([e["data"]["data"]["name"] for e in g] == [f"b{i}" for i in range(20)] for g in got)
    # The broadcaster's reads follow the writes, whatever the number of streams (a
    # stream polling on its own would read several times a second).
    assert many["events"] <= one["events"] * 1.5 + 5, (one, many)
    assert many["keys"] <= 2 + many_s / 0.5, (one, many)
    print(f"1 stream: {one} in {one_s:.1f}s; 100 streams: {many} in {many_s:.1f}s")
