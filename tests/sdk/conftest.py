"""An SDK client of the real ASGI app (in this process: no port), and a zone for VMs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.api.app import create_app
from strato.schema.db import Database
from strato.sdk import AsyncStratoClient
from strato.settings import Settings
from tests.helpers import pool_body, unique


@pytest.fixture
async def app(settings: Settings, db: Database, temporal_client: Client) -> AsyncIterator[Any]:
    made = create_app(settings, db=db, temporal=temporal_client)
    async with made.router.lifespan_context(made):
        yield made


def client_of(app: Any, key: str | None) -> AsyncStratoClient:
    return AsyncStratoClient("http://strato.test", key, transport=httpx.ASGITransport(app=app))


@pytest.fixture
async def sdk(app: Any, admin_token: str) -> AsyncIterator[AsyncStratoClient]:
    async with client_of(app, admin_token) as client:
        yield client


async def sim_zone(sdk: AsyncStratoClient, hosts: int = 2) -> dict[str, Any]:
    """A simulated zone ready for VMs, made through the SDK: hosts Up, a pool, an
    offering, a template, a guest network."""
    zone = await sdk.zones.create(name=unique("zone"))
    pod = await sdk.pods.create(zone_id=zone["id"], name="pod1")
    cluster = await sdk.clusters.create(pod_id=pod["id"], name="c1", hypervisor="simulator")
    await sdk.storage_pools.create(pool_body(cluster["id"], capacity=1 << 40))
    offering = await sdk.service_offerings.create(
        name=unique("off"), cpu_count=1, cpu_speed_mhz=1000, memory_mb=512
    )
    template = await sdk.templates.create(name=unique("tpl"), size_bytes=1 << 30)
    network = await sdk.networks.create(
        zone_id=zone["id"],
        name="guest",
        cidr="10.30.0.0/24",
        gateway="10.30.0.1",
        ip_start="10.30.0.10",
        ip_end="10.30.0.250",
    )
    for i in range(hosts):
        await sdk.wait(await sdk.hosts.create(cluster_id=cluster["id"], name=unique(f"h{i}")))
    return {"zone": zone, "offering": offering, "template": template, "network": network}
