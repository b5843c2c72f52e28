"""Host monitoring in shards (HostMonitors), with real Temporal and PostgreSQL: simulated
hosts beat in one batch per shard (a batch recorded as one beat at a time would be:
``test_vm_sync_order``); a host whose agent moves it to another shard is forgotten by the
old one (never investigated by it); a per-host HostMonitor of before ends when the
host's shard takes it over."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from strato.domain.fabric import flows, monitor
from strato.domain.fabric.monitor import HostView
from strato.domain.fabric.payloads import HostHeartbeat, HostMonitorInput
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.workers.agent_helpers import eventually
from tests.workflows.vm_helpers import vm_zone


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sim_heartbeat_s": 1.0})


async def _hosts(db: Database, ids: list[str]) -> dict[str, Any]:
    async with db.conn() as conn:
        rows = await conn.fetch(
            "SELECT * FROM hosts WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
        )
    return {str(r["id"]): r for r in rows}


async def _watched(client: Client, shard_id: str, host_ids: list[str]) -> dict[str, HostView]:
    got: dict[str, HostView] = await client.get_workflow_handle(shard_id).query(
        "hosts", host_ids, result_type=dict[str, HostView]
    )
    return got


async def test_simulated_hosts_beat_in_batches_into_their_shards(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """Every host is watched by the shard its id names, which knows its status and the
    watermark for its next report; the database says which monitor watches it."""
    fab = await vm_zone(api, hosts=5)
    ids = [h["id"] for h in fab["hosts"]]
    shards = settings.host_monitor_shards
    queue = settings.orchestration_queue

    async def all_watched() -> bool:
        rows = await _hosts(db, ids)
        return all(
            r["monitor_id"] == monitor.monitor_id(uuid.UUID(i), shards, queue)
            for i, r in rows.items()
        )

    await eventually(all_watched, what="every host watched by its shard")
    for i in ids:
        shard_id = monitor.monitor_id(uuid.UUID(i), shards, queue)
        view = (await _watched(platform.client, shard_id, [i]))[i]
        assert view.status == "Up" and view.watermark is not None


async def test_a_host_moved_to_another_shard_is_forgotten_by_the_old_one(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """The fleet's shard count changes: each host that lands on another shard is
    forgotten by its old one, which never investigates its silence there."""
    fab = await vm_zone(api, hosts=6)
    ids = [h["id"] for h in fab["hosts"]]
    queue = settings.orchestration_queue
    before = {i: monitor.monitor_id(uuid.UUID(i), settings.host_monitor_shards, queue) for i in ids}
    await eventually(
        lambda: _all(db, ids, lambda r: r["monitor_id"] == before[str(r["id"])]),
        what="watched by the first shards",
    )
    platform.fleet.settings = settings.model_copy(update={"host_monitor_shards": 3})
    after = {i: monitor.monitor_id(uuid.UUID(i), 3, queue) for i in ids}
    moved = [i for i in ids if after[i] != before[i]]
    assert moved
    await eventually(
        lambda: _all(db, ids, lambda r: r["monitor_id"] == after[str(r["id"])]),
        what="watched by the new shards",
    )

    async def forgotten() -> bool:
        views = [await _watched(platform.client, before[i], [i]) for i in moved]
        return not any(views)

    await eventually(forgotten, what="the old shards forget the moved hosts")
    await asyncio.sleep(4)  # more than a window: nothing investigated, all still Up
    rows = await _hosts(db, ids)
    assert {r["status"] for r in rows.values()} == {"Up"}
    assert all(r["outage"] == 0 for r in rows.values())


async def _all(db: Database, ids: list[str], check: Any) -> bool:
    return all(check(r) for r in (await _hosts(db, ids)).values())


async def test_a_per_host_monitor_of_before_ends_when_the_shard_takes_its_host(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """A host still watched by its own HostMonitor (a cloud upgraded from before the
    shards): its agent's next beat goes to its shard, and the old run ends."""
    fab = await vm_zone(api, hosts=1)
    host = fab["hosts"][0]
    platform.fleet.down.add(host["name"])  # no beats while the old monitor starts
    old = await platform.client.start_workflow(
        flows.HOST_MONITOR.name,
        # A window far longer than the test: it can end only by its retire signal.
        HostMonitorInput(host_id=uuid.UUID(host["id"]), host_name=host["name"], window_s=600),
        id=f"host-monitor:{host['id']}",
        task_queue=settings.orchestration_queue,
        start_signal="heartbeat",
        start_signal_args=[
            HostHeartbeat(agent_id=platform.fleet.agent_id, sent_at=datetime.now(UTC))
        ],
    )
    own = f"host-monitor:{host['id']}"
    await eventually(
        lambda: _all(db, [host["id"]], lambda r: r["monitor_id"] == own),
        what="the old monitor's beat recorded",
    )
    platform.fleet.down.discard(host["name"])
    await asyncio.wait_for(old.result(), 20)
    assert (await old.describe()).status == WorkflowExecutionStatus.COMPLETED
    rows = await _hosts(db, [host["id"]])
    assert rows[host["id"]]["monitor_id"].startswith(monitor.PREFIX)
    assert rows[host["id"]]["status"] == "Up" and rows[host["id"]]["outage"] == 0
