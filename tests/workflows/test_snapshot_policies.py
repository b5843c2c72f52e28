"""Recurring snapshot policies: a Temporal Schedule per policy, firing on schedule (every
2 s here, STRATO_SNAPSHOT_POLICY_EVERY_S), keeping the last N, paused while the volume is
detached, resumed when it is attached again, removed with the volume; bad schedules are
422 with nothing made."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from strato.commands import policies
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.test_snapshots import ready_volume
from tests.workflows.test_volumes import create, problem, running_vm, vol_op
from tests.workflows.vm_helpers import act, vm_zone


async def _live(api: httpx.AsyncClient, policy_id: str) -> list[dict[str, Any]]:
    page = await ok(await api.get("/snapshots", params={"limit": 500}))
    return [s for s in page["items"] if s["policy_id"] == policy_id and s["state"] != "Destroyed"]


async def _when_free(api: httpx.AsyncClient, vol_id: str, verb: str, body: Any = None) -> None:
    """The volume operation, retried while a policy's snapshot holds the volume (409)."""
    deadline = time.monotonic() + 30
    while True:
        r = await api.post(f"/volumes/{vol_id}/{verb}", json=body)
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    op = await wait_operation(api, (await ok(r, 202))["operation"]["id"])
    assert op["state"] == "succeeded", op


async def _paused(client: Client, schedule_id: str) -> bool:
    desc = await client.get_schedule_handle(schedule_id).describe()
    return desc.schedule.state.paused


async def test_a_policy_fires_keeps_n_and_pauses_while_detached(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    temporal_client: Client,
) -> None:
    settings.snapshot_policy_every_s = 2.0
    fab = await vm_zone(api, hosts=1)
    vm = await running_vm(api, fab)
    # The longest name a volume may have: the policy's snapshots are named after it.
    vol = await ready_volume(api, fab, vm, name="v" * 64)
    await act(api, vm["id"], "stop")  # the simulator cannot snapshot a running guest's disk
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    body = {"interval_type": "HOURLY", "schedule": "05", "max_snaps": 2, "timezone": "Europe/Paris"}
    policy = await ok(await api.post(f"/volumes/{vol['id']}/snapshot-policies", json=body), 201)
    assert policy["paused"] is False and not await _paused(temporal_client, policy["schedule_id"])

    # It fires on its own, again and again; only the last two are kept.
    deadline = time.monotonic() + 60
    taken: set[str] = set()
    while time.monotonic() < deadline and len(taken) < 4:
        page = await ok(await api.get("/snapshots", params={"volume_id": vol["id"]}))
        taken |= {s["id"] for s in page["items"] if s["policy_id"] == policy["id"]}
        await asyncio.sleep(0.5)
    assert len(taken) >= 4, f"only {len(taken)} snapshot(s) in 60 s"
    await asyncio.sleep(3)  # the last firing's prune
    live = await _live(api, policy["id"])
    assert 1 <= len(live) <= 3, live  # 2 kept, plus at most one taken since the last prune
    assert all(s["kind"] == "HOURLY" for s in live)

    # Detached: the schedule pauses (the orchestrator's sweep reconciles; here by hand).
    await _when_free(api, vol["id"], "detach")
    assert await policies.reconcile(db, temporal_client) == 1
    assert await _paused(temporal_client, policy["schedule_id"])
    got = await ok(await api.get(f"/snapshot-policies/{policy['id']}"))
    assert got["paused"] is True
    await asyncio.sleep(4)  # a firing under way when it paused ends
    before = {s["id"] for s in (await ok(await api.get("/snapshots")))["items"]}
    await asyncio.sleep(5)
    after = {s["id"] for s in (await ok(await api.get("/snapshots")))["items"]}
    assert after == before, "a paused policy took a snapshot"
    assert await policies.reconcile(db, temporal_client) == 0  # nothing left to change

    # Attached again: it resumes. Expunged: the schedule and the policy are gone.
    await vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    assert await policies.reconcile(db, temporal_client) == 1
    assert not await _paused(temporal_client, policy["schedule_id"])
    await _when_free(api, vol["id"], "detach")
    await _when_free(api, vol["id"], "destroy", {"expunge": True})
    assert await policies.reconcile(db, temporal_client) == 1
    r = await api.get(f"/snapshot-policies/{policy['id']}")
    assert r.status_code == 404
    with pytest.raises(RPCError):
        await temporal_client.get_schedule_handle(policy["schedule_id"]).describe()


async def test_bad_policies_are_422_and_make_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Client
) -> None:
    fab = await vm_zone(api, hosts=1)
    vol = await create(api, fab)
    before = await table_counts(db)
    schedules = {s.id async for s in await temporal_client.list_schedules()}
    url = f"/volumes/{vol['id']}/snapshot-policies"
    base = {"interval_type": "DAILY", "schedule": "30:02", "max_snaps": 3}
    for change, text in (
        ({"interval_type": "YEARLY"}, "interval_type must be one of"),
        ({"schedule": "30"}, "MM:HH"),
        ({"schedule": "61:02"}, "the minute must be 0-59"),
        ({"schedule": "30:24"}, "the hour must be 0-23"),
        ({"interval_type": "WEEKLY", "schedule": "00:01:8"}, "the day of week must be 1-7"),
        ({"interval_type": "MONTHLY", "schedule": "00:01:31"}, "the day of month must be 1-28"),
        ({"timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"max_snaps": 0}, "max_snaps"),
    ):
        await problem(await api.post(url, json={**base, **change}), 422, text)
    assert await table_counts(db) == before
    assert {s.id async for s in await temporal_client.list_schedules()} == schedules
    policy = await ok(await api.post(url, json=base), 201)
    assert policy["paused"] is True  # the volume is not attached
    assert await _paused(temporal_client, policy["schedule_id"])
    await problem(await api.post(url, json=base), 409, "")  # one DAILY policy per volume
    now = {s.id async for s in await temporal_client.list_schedules()}
    assert now - schedules == {policy["schedule_id"]}  # the refused one left none behind
    assert (await api.delete(f"/snapshot-policies/{policy['id']}")).status_code == 204
    with pytest.raises(RPCError):
        await temporal_client.get_schedule_handle(policy["schedule_id"]).describe()
