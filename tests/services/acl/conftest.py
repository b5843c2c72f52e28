"""The ACL service switched on over a test database: an app with it, the core's admin
key, and clients signing with users' key pairs."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.sdk.signing import HmacAuth
from strato.services import loader
from strato.services.acl import rules
from strato.services.acl.service import AclService
from strato.services.acl.settings import AclSettings
from strato.settings import Settings
from tests.helpers import ok, unique


@pytest.fixture
def acl_settings() -> AclSettings:
    return AclSettings(
        secret_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        argon2_memory_kib=1024,  # the hash's cost is not what these tests are about
        argon2_time_cost=1,
        max_failed_logins=3,
    )


@dataclass
class Cloud:
    """The app with the ACL service, and a client per principal."""

    app: Any
    admin: httpx.AsyncClient
    service: AclService
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, auth: httpx.Auth | None = None, **headers: str) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://strato.test/api/v1",
            auth=auth,
            headers=headers,
            timeout=60,
        )
        self.clients.append(c)
        return c

    def signed(self, key: dict[str, Any]) -> httpx.AsyncClient:
        return self.client(HmacAuth(key["access_key"], key["secret_key"]))

    async def domain(self, name: str, parent: str = str(rules.ROOT_DOMAIN)) -> dict[str, Any]:
        body = {"name": name, "parent_id": parent}
        return await ok(await self.admin.post("/acl/domains", json=body), 201)  # type: ignore[no-any-return]

    async def account(
        self, domain_id: str, role: Any = rules.USER, name: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name or unique("acct"), "domain_id": domain_id, "role_id": str(role)}
        return await ok(await self.admin.post("/acl/accounts", json=body), 201)  # type: ignore[no-any-return]

    async def user(self, account_id: str, password: str = "correct horse") -> dict[str, Any]:
        body = {"account_id": account_id, "username": unique("u"), "password": password}
        return await ok(await self.admin.post("/acl/users", json=body), 201)  # type: ignore[no-any-return]

    async def key(self, user_id: str) -> dict[str, Any]:
        return await ok(await self.admin.post(f"/acl/users/{user_id}/keys", json={}), 201)  # type: ignore[no-any-return]

    async def principal(
        self, domain_id: str, role: Any = rules.USER
    ) -> tuple[dict[str, Any], httpx.AsyncClient]:
        """A new account in the domain with one user and a key pair: (account, client)."""
        account = await self.account(domain_id, role)
        user = await self.user(account["id"])
        return account, self.signed(await self.key(user["id"]))


@pytest.fixture
async def cloud(
    settings: Settings,
    db: Database,
    temporal_client: Client,
    admin_token: str,
    acl_settings: AclSettings,
) -> AsyncIterator[Cloud]:
    service = AclService(acl_settings)
    await migrate_dsn(settings.resolved_database_url(), loader.tracks([service]))
    app = create_app(settings, db=db, temporal=temporal_client, services=[service])
    async with app.router.lifespan_context(app):
        c = Cloud(app, httpx.AsyncClient(), service)
        await c.admin.aclose()
        c.admin = c.client(Authorization=f"Bearer {admin_token}")
        try:
            yield c
        finally:
            for client in c.clients:
                await client.aclose()
