"""The schemathesis run over a `strato api` with the ACL service switched on: its own
endpoints with the core's admin key, and every endpoint with an end user's session. No
5xx, every answer matches its schema, a refused request changes nothing (a failed login
counts against its user: that column is left out of the comparison)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from strato.embedded.up import wait_http
from strato.schema.migrate import migrate_dsn
from strato.services import loader
from strato.services.acl import rules
from strato.services.acl.service import AclService
from tests.api.test_fuzz import Snapshots, _admin_key, _fuzz
from tests.conftest import TemporalServer, free_port
from tests.helpers import ChildProcess, unique

Server = tuple[str, str, str, str]  # base URL, admin token, a user's session, DSN


@pytest.fixture
def acl_server(fresh_dsn: str, temporal_server: TemporalServer, tmp_path: Path) -> Iterator[Server]:
    asyncio.run(migrate_dsn(fresh_dsn, loader.tracks([AclService()])))
    token = asyncio.run(_admin_key(fresh_dsn))
    port = free_port()
    proc = ChildProcess(
        ["api", "--port", str(port)],
        {
            "STRATO_DATABASE_URL": fresh_dsn,
            "STRATO_TEMPORAL_ADDRESS": temporal_server.address,
            "STRATO_BODY_TIMEOUT_S": "2",
            "STRATO_SERVICES": "acl",
            "STRATO_ACL_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "STRATO_ACL_ARGON2_MEMORY_KIB": "1024",
            "STRATO_ACL_ARGON2_TIME_COST": "1",
        },
        tmp_path / "api.log",
    )
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/health", proc.proc, 30, "the API")
        yield base, token, _user_session(base, token), fresh_dsn
    finally:
        proc.stop()


def _user_session(base: str, token: str) -> str:
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=admin) as api:
        domain = api.post(
            "/acl/domains", json={"name": "fuzz", "parent_id": str(rules.ROOT_DOMAIN)}
        )
        body = {
            "name": unique("acct"),
            "domain_id": domain.json()["id"],
            "role_id": str(rules.USER),
        }
        account = api.post("/acl/accounts", json=body).json()
        user = {"account_id": account["id"], "username": "fuzzer", "password": "fuzzing-pw"}
        assert api.post("/acl/users", json=user).status_code == 201
        login = {"domain": "ROOT/fuzz", "username": "fuzzer", "password": "fuzzing-pw"}
        session: str = api.post("/acl/login", json=login).json()["token"]
        who = api.get("/acl/whoami", headers={"Authorization": f"Bearer {session}"}).json()
        assert who["role_type"] == "User", who  # the fuzz runs as this end user
    return session


def _operations(base: str, path_regex: str | None = None) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json").exclude(path_regex="/stream$")
    if path_regex is not None:
        schema = schema.include(path_regex=path_regex)
    return [result.ok() for result in schema.get_all_operations()]


def test_acl_endpoints_fuzzed_by_the_admin(acl_server: Server) -> None:
    base, token, _, dsn = acl_server
    operations = _operations(base, "/acl/")
    assert len(operations) >= 20, [o.path for o in operations]
    snapshots = Snapshots(dsn)
    try:
        _fuzz(base, token, operations, snapshots)
    finally:
        snapshots.close()


def test_every_endpoint_fuzzed_by_an_end_user(acl_server: Server) -> None:
    base, _, session, dsn = acl_server
    operations = _operations(base)
    snapshots = Snapshots(dsn)
    try:
        _fuzz(base, session, operations, snapshots, examples=3)
    finally:
        snapshots.close()
