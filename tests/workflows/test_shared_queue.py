"""Simulated hosts on the fleet's shared queues (STRATO_SIM_SHARED_QUEUE): two task queues
for the whole fleet instead of two per host. VMs deploy, plug their ports, migrate
between hosts and stop there, every host-bound step naming its host in its activity id;
a host moved back to its own queues is served there by the next run; a dead host's
neighbour probes it through the shared queue and its HA VMs run elsewhere."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from strato.domain.ids import compute_queue, network_queue
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, wait_operation
from tests.workers.agent_helpers import eventually
from tests.workflows.test_guest_networks import guest_zone
from tests.workflows.test_guest_networks import running_on as deployed_on
from tests.workflows.test_host_ha import _status, loaded_host_and_two_more, running_on
from tests.workflows.vm_helpers import act


@pytest.fixture
def tag() -> str:
    return f"fleet-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(settings: Settings, tag: str) -> Settings:
    # Heartbeats on (1 s, window 3 s): the dead host below is seen and investigated.
    return settings.model_copy(update={"sim_shared_queue": tag, "sim_heartbeat_s": 1.0})


async def _scheduled(client: Client, workflow_id: str) -> list[tuple[str, str, str]]:
    """(activity type, task queue, activity id) of each step the run scheduled."""
    found = []
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            found.append((a.activity_type.name, a.task_queue.name, a.activity_id))
    return found


async def _workflow_of(db: Database, operation_id: str) -> str:
    async with db.conn() as conn:
        wf: str = await conn.fetchval(
            "SELECT workflow_id FROM operations WHERE id = $1", uuid.UUID(operation_id)
        )
    return wf


async def test_vms_run_plug_and_move_on_hosts_served_on_shared_queues(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Client, tag: str
) -> None:
    fab = await guest_zone(api, hosts=2)
    names = {h["id"]: h["name"] for h in fab["hosts"]}
    async with db.conn() as conn:
        queues = await conn.fetch(
            "SELECT name, agent_queue FROM hosts WHERE name = ANY($1)", list(names.values())
        )
    assert {r["agent_queue"] for r in queues} == {tag}
    # Two queues for the fleet's hosts, none of their own.
    # (the network queue once the fleet's refresh sees the zone's physical network).
    await eventually(lambda: _polls(platform, f"network+{tag}"), what="the shared network queue")
    polled = set(platform.fleet.tasks)
    assert f"compute+{tag}" in polled
    for name in names.values():
        assert compute_queue(name) not in polled and network_queue(name) not in polled

    net_id = fab["network"]["id"]
    vm = await deployed_on(api, fab, net_id)
    first = names[vm["host_id"]]
    assert running_on(platform, vm["id"]) == [first]
    async with db.conn() as conn:
        mac = await conn.fetchval("SELECT mac FROM nics WHERE vm_id = $1", uuid.UUID(vm["id"]))
        deploy_op = await conn.fetchval(
            "SELECT id FROM operations WHERE resource_id = $1 AND kind = 'vm.deploy'",
            uuid.UUID(vm["id"]),
        )
    assert set(platform.fleet.elements[first].ports.get(net_id, {})) == {mac}
    assert platform.fleet.routers[first].routers.get(net_id) is not None
    steps = await _scheduled(temporal_client, await _workflow_of(db, str(deploy_op)))
    host_steps = [s for s in steps if s[0].startswith(("compute.", "network."))]
    assert {s[0].split(".")[0] for s in host_steps} == {"compute", "network"}
    for kind, queue, activity_id in host_steps:
        assert queue == f"{kind.split('.')[0]}+{tag}", (kind, queue)
        assert activity_id.startswith(f"{first}#"), (kind, activity_id)

    op = await ok(await api.post(f"/vms/{vm['id']}/migrate", json={}), 202)
    assert (await wait_operation(api, op["operation"]["id"]))["state"] == "succeeded"
    second = next(n for n in names.values() if n != first)
    assert running_on(platform, vm["id"]) == [second]
    assert set(platform.fleet.elements[second].ports.get(net_id, {})) == {mac}
    moved = await _scheduled(temporal_client, await _workflow_of(db, op["operation"]["id"]))
    hosts_named = {a.split("#")[0] for _, q, a in moved if q.endswith(f"+{tag}")}
    assert hosts_named == {first, second}

    # A host moved back to its own queues: the fleet polls them, the next run goes there.
    async with db.tx() as conn:
        await conn.execute("UPDATE hosts SET agent_queue = NULL WHERE name = $1", first)
    await eventually(
        lambda: _polls(platform, compute_queue(first)), what=f"{first}'s own queue polled"
    )
    back = next(i for i, n in names.items() if n == first)
    op = await ok(await api.post(f"/vms/{vm['id']}/migrate", json={"host_id": back}), 202)
    assert (await wait_operation(api, op["operation"]["id"]))["state"] == "succeeded"
    assert running_on(platform, vm["id"]) == [first]
    steps = await _scheduled(temporal_client, await _workflow_of(db, op["operation"]["id"]))
    queues = {q for t, q, _ in steps if t.startswith("compute.")}
    assert queues == {compute_queue(first), f"compute+{tag}"}, steps

    await act(api, vm["id"], "stop")
    assert running_on(platform, vm["id"]) == []
    assert mac not in platform.fleet.elements[first].ports.get(net_id, {})


async def _polls(platform: Platform, queue: str) -> bool:
    return queue in platform.fleet.tasks


async def test_a_dead_shared_host_is_probed_through_the_shared_queue_and_its_ha_vms_move(
    api: httpx.AsyncClient, platform: Platform, db: Database, tag: str
) -> None:
    a, ha_vms, plain_vms, others = await loaded_host_and_two_more(api, db, ha=1, plain=1)

    platform.fleet.down.add(a)  # its agent dies; its domains keep running
    await eventually(lambda: _status(db, a, "Down"), timeout=40, what=f"{a} Down")
    async with db.conn() as conn:
        probe = await conn.fetchrow(
            """SELECT e.payload FROM events e JOIN hosts h ON h.id = e.resource_id
               WHERE h.name = $1 AND e.type = 'strato.host.investigated'""",
            a,
        )
    assert probe is not None and probe["payload"]["prober"] in others
    assert probe["payload"]["reachable"] is False

    async def moved() -> Any:
        where = running_on(platform, ha_vms[0])
        return where if len(where) == 2 and a in where else None

    # The HA VM runs on a neighbour too (the dead host's stale domain is still there).
    both = await eventually(moved, timeout=60, what="HA VM started elsewhere")
    assert set(both) - {a} <= set(others)
    async with db.conn() as conn:
        plain = await conn.fetchrow(
            "SELECT state, host_id FROM vms WHERE id = $1", uuid.UUID(plain_vms[0])
        )
    assert (plain["state"], plain["host_id"]) == ("Stopped", None)

    platform.fleet.down.discard(a)
    await eventually(lambda: _status(db, a, "Up"), timeout=30, what=f"{a} Up again")
    assert platform.fleet.drivers[a].vms == {}
    assert len(running_on(platform, ha_vms[0])) == 1
