"""The per-owner limits hook (strato/commands/limits.py), proven with a service that
brings limits: a command past an owner's limit is a 409 limit-exceeded and changes
nothing; another owner, and the core without such a service, are not limited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.commands import limits, policies
from strato.commands.auth import Caller
from strato.commands.limits import LimitExceeded, Unlimited
from strato.schema.db import Database
from strato.services import loader
from strato.services.base import BaseService
from strato.settings import Settings
from tests.helpers import make_fabric, ok, table_counts, unique


class TwoVolumesEach:
    """An owner may have two data volumes and 3 GiB of them."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, int]] = []

    async def take(
        self,
        conn: Any,
        caller: Caller,
        owner: str,
        resource: str,
        amount: int,
        *,
        pending: bool = False,
    ) -> None:
        self.asked.append((caller.name, owner, resource, amount))
        held = await conn.fetchrow(
            """SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM volumes
               WHERE owner = $1 AND kind = 'DATADISK' AND state <> 'Expunged'""",
            owner,
        )
        if resource == "volume" and held["n"] > 2:
            raise LimitExceeded(f"owner {owner} may have 2 volumes")
        if resource == "primary_storage" and held["bytes"] > 3 << 30:
            raise LimitExceeded(f"owner {owner} may have 3 GiB of volumes")


class Quotas(BaseService):
    name = "quotas-test"

    def __init__(self) -> None:
        super().__init__()
        self.limiter = TwoVolumesEach()

    def limits(self) -> Any:
        return self.limiter


@pytest.fixture
async def limited(
    settings: Settings, db: Database, temporal_client: Client, admin_token: str
) -> AsyncIterator[tuple[httpx.AsyncClient, TwoVolumesEach]]:
    service = Quotas()
    app = create_app(settings, db=db, temporal=temporal_client, services=[service])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://strato.test/api/v1",
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as client,
    ):
        yield client, service.limiter


async def test_an_owner_past_its_limit_gets_409_and_nothing_changes(
    limited: tuple[httpx.AsyncClient, TwoVolumesEach], db: Database
) -> None:
    api, limiter = limited
    fab = await make_fabric(api)

    def body(owner: str, size_gb: int = 1) -> dict[str, Any]:
        zone = fab["zone"]["id"]
        return {"name": unique("v"), "zone_id": zone, "size_gb": size_gb, "owner": owner}

    for _ in range(2):
        await ok(await api.post("/volumes", json=body("alice")), 201)
    assert limiter.asked[:2] == [
        ("test-admin", "alice", "volume", 1),
        ("test-admin", "alice", "primary_storage", 1 << 30),
    ]
    before = await table_counts(db)
    for refused in (body("alice"),):
        r = await api.post("/volumes", json=refused)
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("limit-exceeded") and "2 volumes" in r.json()["detail"]
    too_big = await api.post("/volumes", json=body("bob", size_gb=4))
    assert too_big.status_code == 409 and "3 GiB" in too_big.json()["detail"], too_big.text
    assert await table_counts(db) == before
    await ok(await api.post("/volumes", json=body("bob")), 201)  # bob has room


def test_two_services_with_limits_are_refused(settings: Settings) -> None:
    with pytest.raises(loader.ServiceError, match="resource limits"):
        create_app(settings, services=[Quotas(), Quotas()])


async def test_the_orchestrators_own_commands_count_against_the_installed_limits(
    settings: Settings, db: Database, temporal_client: Client
) -> None:
    """Scheduled snapshots and backups and managed services run commands in the
    orchestrator, not the API: they get the limits the orchestrator installed from its
    switched-on services (strato.workers.orchestrator.run), not unlimited ones."""
    limiter = TwoVolumesEach()
    limits.install(limiter)
    try:
        assert policies.system_context(db, temporal_client, settings).limits is limiter
    finally:
        limits.install(None)
    assert isinstance(policies.system_context(db, temporal_client, settings).limits, Unlimited)
