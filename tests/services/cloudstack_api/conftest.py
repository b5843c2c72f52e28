"""The CloudStack-compatible API over a test database, with the ACL service beside it:
clients that sign as CloudStack's clients do (HMAC-SHA1 over the sorted, encoded,
lower-cased parameters), in-process over ASGI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.services import loader
from strato.services.acl import rules
from strato.services.acl.service import AclService
from strato.services.acl.settings import AclSettings
from strato.services.cloudstack_api.service import CloudstackApiService
from strato.settings import Settings
from tests.services.acl.conftest import Cloud


def signed_query(
    params: dict[str, Any], api_key: str, secret: str, *, expires_in: float | None = 600
) -> dict[str, str]:
    """The parameters as the `cs` library sends them, signed."""
    query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    query |= {"apiKey": api_key, "response": query.get("response", "json")}
    if expires_in is not None:
        at = datetime.now(UTC) + timedelta(seconds=expires_in)
        query |= {"signatureVersion": "3", "expires": at.strftime("%Y-%m-%dT%H:%M:%S%z")}
    text = "&".join(f"{k}={quote(v, safe='*')}" for k, v in sorted(query.items())).lower()
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return query | {"signature": base64.b64encode(digest).decode()}


@dataclass
class CsClient:
    """A CloudStack API client for one key pair."""

    http: httpx.AsyncClient
    api_key: str
    secret: str

    async def raw(self, command: str, *, method: str = "GET", **params: Any) -> httpx.Response:
        query = signed_query({"command": command, **params}, self.api_key, self.secret)
        if method == "POST":
            return await self.http.post(
                "/client/api",
                content=urlencode(query),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        return await self.http.get("/client/api", params=query)

    async def __call__(self, command: str, **params: Any) -> dict[str, Any]:
        r = await self.raw(command, **params)
        assert r.status_code == 200, (command, r.status_code, r.text)
        body: dict[str, Any] = r.json()[f"{command.lower()}response"]
        return body

    async def error(self, command: str, **params: Any) -> tuple[int, dict[str, Any]]:
        r = await self.raw(command, **params)
        assert r.status_code != 200, r.text
        (envelope,) = r.json().values()
        assert envelope["errorcode"] == r.status_code, envelope
        return r.status_code, envelope

    async def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        """queryAsyncJobResult until the job is done."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self("queryAsyncJobResult", jobid=job_id)
            if job["jobstatus"] != 0:
                return job
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.1)


@dataclass
class CsCloud:
    acl: Cloud

    def client(self, key: dict[str, Any]) -> CsClient:
        http = self.acl.client()
        http.base_url = httpx.URL("http://strato.test")
        return CsClient(http, key["access_key"], key["secret_key"])

    async def account(
        self, domain_id: str = str(rules.ROOT_DOMAIN), role: Any = rules.USER
    ) -> tuple[dict[str, Any], dict[str, Any], CsClient]:
        """A new account with a user and a key pair: (account, user, client)."""
        account = await self.acl.account(domain_id, role)
        user = await self.acl.user(account["id"])
        key = await self.acl.key(user["id"])
        return account, user, self.client(key)


@pytest.fixture
async def cs_cloud(
    settings: Settings, db: Database, temporal_client: Client, admin_token: str
) -> AsyncIterator[CsCloud]:
    acl = AclService(
        AclSettings(
            secret_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            argon2_memory_kib=1024,  # the hash's cost is not what these tests are about
            argon2_time_cost=1,
        )
    )
    cs = CloudstackApiService()
    await migrate_dsn(settings.resolved_database_url(), loader.tracks([acl, cs]))
    app = create_app(settings, db=db, temporal=temporal_client, services=[acl, cs])
    async with app.router.lifespan_context(app):
        cloud = Cloud(app, httpx.AsyncClient(), acl)
        await cloud.admin.aclose()
        cloud.admin = cloud.client(Authorization=f"Bearer {admin_token}")
        try:
            yield CsCloud(cloud)
        finally:
            for client in cloud.clients:
                await client.aclose()
