"""The seam for optional services, proven with the example service in example_dist/:
switched on, its route answers, its migration track ran, its event type is accepted and
its CLI command exists; switched off, none of that exists. The core never imports it."""

from __future__ import annotations

import ast
import concurrent.futures
import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.cli.app import build_parser
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.services import loader
from strato.settings import Settings

DIST = Path(__file__).parent / "example_dist"
STRATO = Path(__file__).resolve().parents[2] / "strato"


@pytest.fixture
def example_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put the example distribution (package + dist-info with its entry point) on the path."""
    monkeypatch.syspath_prepend(str(DIST))
    importlib.invalidate_caches()
    yield
    for name in [m for m in sys.modules if m.startswith("strato_example")]:
        del sys.modules[name]


async def _client(
    settings: Settings, db: Database, temporal: Client, token: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, temporal=temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://strato.test/api/v1",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        yield client


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()


async def test_switched_on_the_service_is_everywhere(
    example_installed: None,
    settings: Settings,
    db: Database,
    temporal_client: Client,
    admin_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRATO_EXAMPLE_GREETING", "bonjour")
    on = settings.model_copy(update={"services": "example"})
    services = loader.enabled(on)
    assert [s.name for s in services] == ["example"]

    applied = await migrate_dsn(on.resolved_database_url(), loader.tracks(services))
    assert [m.label for m in applied] == ["example:0001"]
    assert "example_greetings" in await _tables(on.resolved_database_url())
    assert await migrate_dsn(on.resolved_database_url(), loader.tracks(services)) == []

    async for api in _client(on, db, temporal_client, admin_token):
        r = await api.post("/example/greetings", json={"text": "salut"})
        assert r.status_code == 201, r.text
        r = await api.get("/example/greetings")
        assert r.json() == {"greeting": "bonjour", "stored": ["salut"]}
        bad = await api.post("/example/greetings", json={"text": ""})
        assert bad.status_code == 422
        evs = (await api.get("/events", params={"after": 0, "limit": 500})).json()
        items = evs["items"] if isinstance(evs, dict) else evs
        assert any(e["type"] == "strato.example.greeted" for e in items)

    parser = build_parser(services)
    args = parser.parse_args(["example", "world"])
    assert args.handler(args, None) == 0


async def test_switched_off_the_service_is_nowhere(
    example_installed: None,
    settings: Settings,
    db: Database,
    temporal_client: Client,
    admin_token: str,
) -> None:
    assert "example" in loader.installed()  # installed, but not switched on
    assert loader.enabled(settings) == []
    assert await migrate_dsn(settings.resolved_database_url(), loader.tracks([])) == []
    assert "example_greetings" not in await _tables(settings.resolved_database_url())
    async for api in _client(settings, db, temporal_client, admin_token):
        assert (await api.get("/example/greetings")).status_code == 404
    with pytest.raises(SystemExit):
        build_parser([]).parse_args(["example", "world"])


def test_a_service_switched_on_but_not_installed_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(loader.ServiceError, match=r"'console' is switched on .* not installed"):
        loader.enabled(settings.model_copy(update={"services": "console"}))


def _parse(source: str) -> ast.Module:
    """ast.parse on a fresh thread: CPython 3.11 can fail a parse on a thread whose
    recursion counter an earlier deep call left off ("AST constructor recursion depth
    mismatch"), as it did once in CI."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ast.parse, source).result()


def test_the_core_never_imports_a_service() -> None:
    """Only the seam (strato.services.base, .loader) is imported outside strato/services;
    no service module is named anywhere in the core."""
    seam = {"strato.services", "strato.services.base", "strato.services.loader"}
    for path in STRATO.rglob("*.py"):
        rel = path.relative_to(STRATO)
        if rel.parts[0] == "services" and len(rel.parts) > 2:
            continue  # a service's own package
        tree = _parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("strato_example"), f"{rel} imports {name}"
                if name.startswith("strato.services"):
                    assert name in seam, f"{rel} imports the service module {name}"
