"""A developer's workflow subscribes to Strato's events and gets them as signals from
the event relay (no polling); the subscription goes once the workflow has ended; bad
subscriptions are refused and change nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.domain.event_signals import SIGNAL
from strato.events.relay import Relay
from strato.schema.db import Database
from strato.sdk import AsyncStratoClient, InvalidInput
from strato.sdk import worker as sdk_worker
from strato.sdk.workflow import EVENT_SIGNAL
from strato.settings import Settings
from tests.conftest import Platform
from tests.events.test_relay import relay as running_relay
from tests.helpers import table_counts, unique
from tests.sdk.flows import AwaitZone


@pytest.fixture
async def relay(db: Database, settings: Settings) -> AsyncIterator[Relay]:
    async with running_relay(db, settings, name="signals-test") as r:
        yield r


async def _subscriptions(sdk: AsyncStratoClient, workflow_id: str) -> list[dict[str, Any]]:
    return [s async for s in sdk.event_signals.list(workflow_id=workflow_id)]


async def test_a_workflow_waits_for_an_event_signalled_by_the_relay(
    api: httpx.AsyncClient,
    platform: Platform,
    relay: Relay,
    temporal_client: Client,
    sdk: AsyncStratoClient,
) -> None:
    assert SIGNAL == EVENT_SIGNAL  # the SDK stands alone, and names the same signal
    app = unique("app")
    name = unique("zone")
    async with sdk_worker.worker(temporal_client, sdk, app=app, workflows=[AwaitZone]):
        handle = await sdk_worker.start(
            temporal_client, AwaitZone.run, name, app=app, id=f"await-{uuid.uuid4()}"
        )
        for _ in range(100):
            if await _subscriptions(sdk, handle.id):
                break
            await asyncio.sleep(0.1)
        (sub,) = await _subscriptions(sdk, handle.id)
        assert sub["types"] == ["strato.zone.*"]
        await sdk.zones.create(name=unique("other"))  # not the one it waits for
        zone = await sdk.zones.create(name=name)
        event: dict[str, Any] = await asyncio.wait_for(handle.result(), 60)
    assert (event["type"], event["subject"], event["data"]["name"]) == (
        "strato.zone.created",
        f"zone/{zone['id']}",
        name,
    )
    # once it has ended, the next matching event drops its subscription
    await sdk.zones.create(name=unique("after"))
    for _ in range(100):
        if not await _subscriptions(sdk, handle.id):
            break
        await asyncio.sleep(0.1)
    assert await _subscriptions(sdk, handle.id) == []


async def test_bad_subscriptions_are_refused_and_change_nothing(
    sdk: AsyncStratoClient, db: Database
) -> None:
    before = await table_counts(db)
    for body in (
        {"workflow_id": "w", "types": ["strato.nothing.*"]},
        {"workflow_id": "", "types": ["*"]},
        {"workflow_id": "w", "types": []},
        {"workflow_id": "w", "resource_ids": ["not-a-uuid"]},
    ):
        with pytest.raises(InvalidInput):
            await sdk.event_signals.create(body)
    assert await table_counts(db) == before
