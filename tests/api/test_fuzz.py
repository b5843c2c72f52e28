"""API robustness: schemathesis generates requests from the OpenAPI document and sends
them to a real `strato api` process. No 5xx, every response matches its schema and
content type, and a rejected request (4xx) changes nothing in the database."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from strato.embedded.up import wait_http
from strato.schema import api_keys
from tests.conftest import TemporalServer, free_port
from tests.helpers import ChildProcess

Server = tuple[str, str, str]  # base URL, admin token, database DSN


async def _digests_query(conn: Any) -> str:
    """One query giving a digest of every table's rows (api_keys without last_used_at,
    which every authenticated request touches)."""
    tables = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
    ]
    parts = []
    for t in tables:
        rows = {
            "api_keys": "(SELECT id, name, prefix, scope, revoked_at FROM api_keys)",
            # A failed login is refused and counted against its user, on purpose.
            "acl_users": "(SELECT id, account_id, username, password_hash FROM acl_users)",
        }.get(t, f'"{t}"')
        parts.append(
            f"SELECT '{t}' AS t, md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
            f" AS d FROM {rows} r"
        )
    return " UNION ALL ".join(parts)


async def _snapshot(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["t"]: r["d"] for r in await conn.fetch(await _digests_query(conn))}
    finally:
        await conn.close()


class Snapshots:
    """:func:`_snapshot` on one connection kept for a whole fuzz run."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(dsn))
        self.query = self.loop.run_until_complete(_digests_query(self.conn))

    def take(self) -> dict[str, str]:
        rows = self.loop.run_until_complete(self.conn.fetch(self.query))
        return {r["t"]: r["d"] for r in rows}

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


async def _admin_key(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            _, token = await api_keys.create(conn, "fuzz", "admin")
        return token
    finally:
        await conn.close()


@pytest.fixture
def api_server(fresh_dsn: str, temporal_server: TemporalServer, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    token = asyncio.run(_admin_key(fresh_dsn))
    proc = ChildProcess(
        ["api", "--port", str(port)],
        {
            "STRATO_DATABASE_URL": fresh_dsn,
            "STRATO_TEMPORAL_ADDRESS": temporal_server.address,
            "STRATO_BODY_TIMEOUT_S": "2",
        },
        tmp_path / "api.log",
    )
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/health", proc.proc, 30, "the API")
        yield base, token, fresh_dsn
    finally:
        proc.stop()


def test_api_fuzz(api_server: Server) -> None:
    """Every operation of the OpenAPI document, with generated (valid and invalid) input.

    Driven through hypothesis per operation (schemathesis' pytest plugin does not support
    this pytest), so a failure names the operation and the request that broke it.
    """
    base, token, dsn = api_server
    # The SSE stream never ends by design; tests/api/test_events_stream.py covers it.
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json").exclude(path_regex="/stream$")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the OpenAPI document lost its operations"
    snapshots = Snapshots(dsn)
    try:
        _fuzz(base, token, operations, snapshots)
    finally:
        snapshots.close()


def _fuzz(
    base: str, token: str, operations: list[Any], snapshots: Snapshots, examples: int = 6
) -> None:
    for operation in operations:
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=cases)
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # CI explores the same cases every run; STRATO_FUZZ_RANDOM=1 explores new ones.
            derandomize=os.environ.get("STRATO_FUZZ_RANDOM") != "1",
        )
        def exercise(case: Any) -> None:
            before = snapshots.take()
            response = case.call(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )
            if response.status_code >= 400:
                assert snapshots.take() == before, (
                    f"{case.method} {case.formatted_path} was refused with "
                    f"{response.status_code} but changed the database"
                )

        exercise()


def _read_response(s: socket.socket) -> str:
    """Headers and the whole body (they may arrive in separate segments)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_slow_body_is_cut_off_with_408(api_server: Server) -> None:
    """A client that announces a body and never sends it cannot hold the API."""
    base, token, _ = api_server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST /api/v1/zones HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"name": '
        )
        t0 = time.monotonic()
        reply = _read_response(s)
        took = time.monotonic() - t0
    assert reply.startswith("HTTP/1.1 408"), reply
    assert "application/problem+json" in reply and "request-timeout" in reply
    assert took < 8


def test_nul_in_text_is_422_and_changes_nothing(api_server: Server) -> None:
    """Found by the fuzzer: PostgreSQL cannot store U+0000; that is bad input, not a 500."""
    base, token, dsn = api_server
    before = asyncio.run(_snapshot(dsn))
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.get(f"{base}/api/v1/affinity-groups", params={"owner": "a\x00b"}, headers=auth)
    assert r.status_code == 422 and "U+0000" in r.json()["detail"], r.text
    r = httpx.post(f"{base}/api/v1/zones", json={"name": "z", "description": "a\x00"}, headers=auth)
    assert r.status_code == 422, r.text
    assert asyncio.run(_snapshot(dsn)) == before
