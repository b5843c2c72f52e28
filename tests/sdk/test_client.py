"""The SDK's asynchronous client against the real app: every verb of a collection,
pages followed, refusals raised as the class their status names (changing nothing),
operations waited for with their progress, a failed one raised."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from strato.schema.db import Database
from strato.sdk import (
    AsyncStratoClient,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OperationFailed,
    Unauthorized,
    WaitTimeout,
)
from tests.conftest import Platform
from tests.helpers import table_counts, unique
from tests.sdk.conftest import client_of, sim_zone


async def test_a_collection_lists_every_page_and_finds_by_name(sdk: AsyncStratoClient) -> None:
    tag = unique("z")
    made = [await sdk.zones.create(name=f"{tag}-{i}") for i in range(5)]
    first = await sdk.zones.page(limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    listed = [z["id"] async for z in sdk.zones.list()]
    assert {z["id"] for z in made} <= set(listed) and len(listed) == len(set(listed))
    found = await sdk.zones.find(name=f"{tag}-3")
    assert found["id"] == made[3]["id"]
    renamed = await sdk.zones.update(made[0]["id"], name=f"{tag}-renamed")
    assert (await sdk.zones.get(made[0]["id"]))["name"] == renamed["name"] == f"{tag}-renamed"
    await sdk.zones.delete(made[0]["id"])
    with pytest.raises(NotFound) as gone:
        await sdk.zones.get(made[0]["id"])
    assert gone.value.status == 404 and gone.value.code == "not-found"


async def test_refusals_are_typed_and_change_nothing(
    sdk: AsyncStratoClient, app: Any, db: Database
) -> None:
    zone = await sdk.zones.create(name=unique("zone"))
    before = await table_counts(db)
    with pytest.raises(InvalidInput) as bad:
        await sdk.zones.create(name="")
    assert bad.value.status == 422 and "name" in bad.value.detail
    with pytest.raises(Conflict) as taken:
        await sdk.zones.create(name=zone["name"])
    assert taken.value.code == "name-taken"
    with pytest.raises(NotFound):
        await sdk.vms.act(str(uuid.uuid4()), "start")
    async with client_of(app, "strato_not-a-key") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.zones.page()
    reader = await sdk.api_keys.create(name=unique("ro"), scope="read")
    async with client_of(app, reader["token"]) as ro:
        assert (await ro.zones.get(zone["id"]))["id"] == zone["id"]
        with pytest.raises(Forbidden):
            await ro.zones.create(name=unique("zone"))
    after = await table_counts(db)
    assert {k: v for k, v in after.items() if k != "api_keys"} == {
        k: v for k, v in before.items() if k != "api_keys"
    }


async def test_an_operation_is_waited_for_with_its_progress(
    sdk: AsyncStratoClient, platform: Platform
) -> None:
    fab = await sim_zone(sdk)
    seen: list[tuple[str, int]] = []
    accepted = await sdk.vms.create(
        name=unique("vm"),
        zone_id=fab["zone"]["id"],
        service_offering_id=fab["offering"]["id"],
        template_id=fab["template"]["id"],
        idempotency_key=f"sdk-test-{uuid.uuid4()}",
    )
    op = await sdk.wait(accepted, on_change=lambda o: seen.append((o["step"], o["progress"])))
    assert op["state"] == "succeeded" and op["kind"] == "vm.deploy"
    assert len(seen) >= 2 and seen[-1][1] == 100, seen
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    vm = await sdk.wait_for(sdk.vms, accepted["resource"]["id"], "Running", timeout=30)
    assert vm["state"] == "Running"
    with pytest.raises(WaitTimeout):
        await sdk.wait_for(sdk.vms, vm["id"], "Stopped", timeout=0.5, interval=0.1)
    # A deploy no host can take: its failure is raised with the operation.
    huge = await sdk.service_offerings.create(
        name=unique("huge"), cpu_count=1, cpu_speed_mhz=1000, memory_mb=10_000_000
    )
    failing = await sdk.vms.create(
        name=unique("vm"),
        zone_id=fab["zone"]["id"],
        service_offering_id=huge["id"],
        template_id=fab["template"]["id"],
    )
    with pytest.raises(OperationFailed) as failed:
        await sdk.wait(failing)
    assert failed.value.operation["state"] == "failed" and failed.value.operation["error"]
    ended = await sdk.wait(failing, raise_on_failure=False)
    assert ended["state"] == "failed"
