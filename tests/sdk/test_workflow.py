"""A developer's workflow on Strato's operations (strato.sdk.workflow), run by the SDK's
worker helper: each step through the API with its fixed idempotency key, operations
waited for, the resources the run touched on its StratoResources search attribute, and a
refusal failing the workflow at once with the problem's code."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from strato.sdk import AsyncStratoClient, NotFound
from strato.sdk import worker as sdk_worker
from tests.conftest import Platform
from tests.helpers import unique
from tests.sdk.flows import Frontline, Teardown
from tests.workflows.test_guest_networks import guest_zone


async def _found_by(client: Client, resource_id: str) -> list[str]:
    query = f"StratoResources = '{resource_id}'"
    for _ in range(100):
        ids = [w.id async for w in client.list_workflows(query)]
        if ids:
            return ids
        await asyncio.sleep(0.1)
    return []


async def test_a_developer_workflow_deploys_exposes_and_tears_down(
    api: httpx.AsyncClient, platform: Platform, temporal_client: Client, sdk: AsyncStratoClient
) -> None:
    fab = await guest_zone(api)
    app = unique("app")
    inp = {
        "name": unique("web"),
        "zone_id": fab["zone"]["id"],
        "offering_id": fab["offering"]["id"],
        "template_id": fab["template"]["id"],
        "network_id": fab["network"]["id"],
    }
    async with sdk_worker.worker(temporal_client, sdk, app=app, workflows=[Frontline, Teardown]):
        handle = await sdk_worker.start(
            temporal_client, Frontline.run, inp, app=app, id=f"front-{uuid.uuid4()}"
        )
        made: dict[str, Any] = await asyncio.wait_for(handle.result(), 120)
        assert made["state"] == "Running"
        vm = await sdk.vms.get(made["vm"])
        assert vm["name"] == inp["name"] and vm["state"] == "Running"
        rules = [r async for r in sdk.public_ips.sub(made["ip"], "port-forwarding-rules").list()]
        assert [(r["id"], r["vm_id"], r["public_start"]) for r in rules] == [
            (made["rule"], made["vm"], 8080)
        ]
        # exactly one VM of that name: no step ran twice
        assert [v["id"] async for v in sdk.vms.list(name=inp["name"])] == [made["vm"]]
        # the run is found in Temporal by each resource it touched
        for resource in (made["vm"], made["ip"], made["rule"]):
            assert handle.id in await _found_by(temporal_client, resource), resource

        gone = await sdk_worker.start(
            temporal_client, Teardown.run, made, app=app, id=f"down-{uuid.uuid4()}"
        )
        after: dict[str, Any] = await asyncio.wait_for(gone.result(), 120)
        assert after["state"] == "Expunged", after
        assert (await sdk.vms.get(made["vm"]))["state"] == "Expunged"
        released = await sdk.public_ips.get(made["ip"])
        assert (released["state"], released["network_id"]) == ("Free", None), released
        with pytest.raises(NotFound):
            await sdk.port_forwarding_rules.delete(made["rule"])


async def test_a_refused_step_fails_the_workflow_with_its_code(
    platform: Platform, temporal_client: Client, sdk: AsyncStratoClient
) -> None:
    app = unique("app")
    inp = {
        "name": unique("web"),
        "zone_id": str(uuid.uuid4()),
        "offering_id": str(uuid.uuid4()),
        "template_id": str(uuid.uuid4()),
        "network_id": str(uuid.uuid4()),
    }
    async with sdk_worker.worker(temporal_client, sdk, app=app, workflows=[Frontline]):
        handle = await sdk_worker.start(
            temporal_client, Frontline.run, inp, app=app, id=f"front-{uuid.uuid4()}"
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 60)
    step = failed.value.cause
    assert isinstance(step, ActivityError) and isinstance(step.cause, ApplicationError)
    assert step.cause.type == "invalid-input" and step.cause.non_retryable
    problem = step.cause.details[0]
    assert problem["status"] == 422 and "zone_id" in problem["detail"], problem
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1]  # refused once, not retried
