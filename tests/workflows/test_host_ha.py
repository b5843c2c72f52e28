"""Host investigation and HA on simulated hosts that heartbeat (1 s; window 3 s): a host
whose agent dies goes Alert, a neighbour's probe finds no agent, it is Down; its HA VMs
run elsewhere, the others are Stopped; the agent that returns destroys the fenced domains
before its host is Up, and no VM runs twice. A partitioned agent (alive, its heartbeats
lost) is Disconnected and nothing moves; a short gap changes nothing; an HA VM with
nowhere to go is Error with an alert."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, unique, wait_operation
from tests.workers.agent_helpers import eventually
from tests.workflows.test_vm_crash import agents_only, worker_process
from tests.workflows.vm_helpers import deploy, running_vm, vm_zone

__all__ = ["agents_only"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sim_heartbeat_s": 1.0})


async def _host(db: Database, name: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchrow("SELECT * FROM hosts WHERE name = $1", name)


async def _status(db: Database, name: str, status: str) -> Any:
    row = await _host(db, name)
    return row if row["status"] == status else None


async def _heartbeating(db: Database, name: str) -> None:
    """Until the host's monitor records a heartbeat (its connect set the first time)."""
    first = (await _host(db, name))["last_heartbeat_at"]

    async def newer() -> Any:
        row = await _host(db, name)
        return row["status"] == "Up" and row["last_heartbeat_at"] != first

    await eventually(newer, what=f"{name} heartbeating")


async def _vm(db: Database, vm_id: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchrow("SELECT * FROM vms WHERE id = $1", vm_id)


async def _events(db: Database, type_: str, resource_id: Any) -> list[Any]:
    async with db.conn() as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM events WHERE type = $1 AND resource_id = $2 ORDER BY seq",
                type_,
                resource_id,
            )
        )


async def _add_host(api: httpx.AsyncClient, fab: dict[str, Any], prefix: str) -> str:
    r = await ok(
        await api.post("/hosts", json={"cluster_id": fab["cluster"]["id"], "name": unique(prefix)}),
        202,
    )
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    name: str = r["resource"]["name"]
    return name


async def _vms_on_first_host(
    api: httpx.AsyncClient, fab: dict[str, Any], ha: int, plain: int
) -> tuple[list[str], list[str]]:
    """``ha`` HA VMs and ``plain`` others, all running on the zone's one host."""
    ha_offering = await ok(
        await api.post(
            "/service-offerings",
            json={
                "name": unique("ha"),
                "cpu_count": 1,
                "cpu_speed_mhz": 1000,
                "memory_mb": 1024,
                "ha": True,
            },
        ),
        201,
    )
    accepted = [
        *[await deploy(api, fab, service_offering_id=ha_offering["id"]) for _ in range(ha)],
        *[await deploy(api, fab) for _ in range(plain)],
    ]
    for a in accepted:
        assert (await wait_operation(api, a["operation"]["id"]))["state"] == "succeeded"
    ids = [a["resource"]["id"] for a in accepted]
    return ids[:ha], ids[ha:]


async def loaded_host_and_two_more(
    api: httpx.AsyncClient, db: Database, ha: int, plain: int
) -> tuple[str, list[str], list[str], list[str]]:
    """A zone whose first host runs ``ha`` HA VMs and ``plain`` others, then two more
    hosts, all heartbeating: (the first host, its HA VMs, the others, the two hosts)."""
    fab = await vm_zone(api, hosts=1)
    a = fab["hosts"][0]["name"]
    ha_vms, plain_vms = await _vms_on_first_host(api, fab, ha=ha, plain=plain)
    others = [await _add_host(api, fab, "b"), await _add_host(api, fab, "c")]
    for name in (a, *others):
        await _heartbeating(db, name)
    return a, ha_vms, plain_vms, others


def running_on(platform: Platform, vm_id: str) -> list[str]:
    """The simulated hosts where the VM's domain runs."""
    return sorted(
        host
        for host, driver in platform.fleet.drivers.items()
        for vm in driver.vms.values()
        if vm.spec.uuid == vm_id and vm.power == "running"
    )


async def test_a_dead_hosts_vms_are_fenced_and_ha_ones_run_elsewhere(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    temporal_client: Client,
) -> None:
    a, ha_vms, plain_vms, others = await loaded_host_and_two_more(api, db, ha=2, plain=2)
    host_a = await _host(db, a)

    platform.fleet.down.add(a)  # its agent dies; its domains keep running
    await eventually(lambda: _status(db, a, "Down"), timeout=40, what=f"{a} Down")
    moves = [
        (e["old_state"], e["new_state"])
        for e in await _events(db, "strato.host.state_changed", host_a["id"])
    ]
    assert moves[-2:] == [("Up", "Alert"), ("Alert", "Down")], moves
    probes = await _events(db, "strato.host.investigated", host_a["id"])
    assert [p["payload"]["reachable"] for p in probes] == [False]
    assert probes[0]["payload"]["prober"] in others  # a neighbour checked, not itself
    row = await _host(db, a)
    assert row["outage"] == 1 and "did not answer" in row["last_error"]
    # SREs find it in the Temporal UI by its status.
    query = (
        f"StratoResourceId = '{host_a['id']}' AND StratoOperation = 'ha'"
        " AND StratoHostStatus = 'Down'"
    )
    await eventually(lambda: _listed(temporal_client, query), what="its HA run listed as Down")

    for vm_id in ha_vms:  # started elsewhere through the normal boot path
        vm = await eventually(
            lambda v=vm_id: _running_elsewhere(db, v, host_a["id"]), timeout=60, what="HA"
        )
        assert vm["last_host_id"] != host_a["id"] or vm["host_id"] is not None
    for vm_id in plain_vms:
        vm = await _vm(db, vm_id)
        assert (vm["state"], vm["host_id"]) == ("Stopped", None)
        fenced = await _events(db, "strato.vm.fenced", vm["id"])
        assert [f["payload"]["ha"] for f in fenced] == [False]
    async with db.conn() as conn:
        fences = await conn.fetchval(
            "SELECT count(*) FROM vm_fences WHERE host_id = $1", host_a["id"]
        )
        starts = await conn.fetch(
            """SELECT resource_id FROM operations
               WHERE kind = 'vm.start' AND idempotency_key LIKE '%/ha:%'"""
        )
    assert fences == 4
    assert sorted(str(s["resource_id"]) for s in starts) == sorted(ha_vms)  # once each

    # The agent returns: the fenced domains go before its host is Up.
    platform.fleet.down.discard(a)
    await eventually(lambda: _status(db, a, "Up"), timeout=30, what=f"{a} Up again")
    assert platform.fleet.drivers[a].vms == {}
    for vm_id in ha_vms:
        assert len(running_on(platform, vm_id)) == 1, running_on(platform, vm_id)
    for vm_id in plain_vms:
        assert running_on(platform, vm_id) == []
    cleared = await _events(db, "strato.host.fences_cleared", host_a["id"])
    assert [(c["payload"]["outage"], c["payload"]["vms"]) for c in cleared] == [(1, 4)]
    report = await examine(db, temporal_client, queue=settings.orchestration_queue)
    assert report.findings == [], report.findings
    # One outage, one investigation.
    runs = [
        w.id
        async for w in temporal_client.list_workflows(
            f"WorkflowType = 'HostHa' AND WorkflowId STARTS_WITH 'host-ha:{host_a['id']}'"
        )
    ]
    assert runs == [f"host-ha:{host_a['id']}:1"]


async def _listed(client: Client, query: str) -> bool:
    return bool([w async for w in client.list_workflows(query)])


async def _running_elsewhere(db: Database, vm_id: str, dead: Any) -> Any:
    vm = await _vm(db, vm_id)
    ok_ = vm["state"] == "Running" and vm["host_id"] not in (None, dead)
    return vm if ok_ else None


async def test_a_partitioned_agent_is_disconnected_and_nothing_moves(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    a = fab["hosts"][0]["name"]
    ha_vms, plain_vms = await _vms_on_first_host(api, fab, ha=1, plain=1)
    b = await _add_host(api, fab, "b")
    for name in (a, b):
        await _heartbeating(db, name)
    host_a = await _host(db, a)

    platform.fleet.partitioned.add(a)  # cut off from Temporal, alive, domains running
    row = await eventually(
        lambda: _status(db, a, "Disconnected"), timeout=40, what=f"{a} Disconnected"
    )
    assert "answers" in row["last_error"]
    await asyncio.sleep(6)  # well past the window and two probes: still nothing moves
    assert (await _host(db, a))["status"] == "Disconnected"
    for vm_id in [*ha_vms, *plain_vms]:
        vm = await _vm(db, vm_id)
        assert (vm["state"], vm["host_id"]) == ("Running", host_a["id"])
        assert running_on(platform, vm_id) == [a]
        assert await _events(db, "strato.vm.fenced", vm["id"]) == []
    probes = await _events(db, "strato.host.investigated", host_a["id"])
    assert [p["payload"]["reachable"] for p in probes] == [True]  # probed since, quietly

    platform.fleet.partitioned.discard(a)
    await eventually(lambda: _status(db, a, "Up"), timeout=30, what=f"{a} Up again")
    assert all(running_on(platform, v) == [a] for v in [*ha_vms, *plain_vms])


async def test_a_gap_shorter_than_the_window_changes_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    a = fab["hosts"][0]["name"]
    await _heartbeating(db, a)
    host_a = await _host(db, a)
    platform.fleet.partitioned.add(a)
    await asyncio.sleep(1.0)  # one missed beat of a 3 s window
    platform.fleet.partitioned.discard(a)
    await asyncio.sleep(4)
    row = await _host(db, a)
    assert (row["status"], row["outage"]) == ("Up", 0)
    moves = await _events(db, "strato.host.state_changed", host_a["id"])
    assert [m["new_state"] for m in moves] == ["Connecting", "Up"]  # its add, nothing since


async def test_an_ha_vm_with_nowhere_to_go_is_error_with_an_alert(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    a = fab["hosts"][0]["name"]
    ha_vms, _ = await _vms_on_first_host(api, fab, ha=1, plain=0)
    b = await _add_host(api, fab, "b")
    await _heartbeating(db, b)
    async with db.tx() as conn:  # the neighbour can probe, but cannot take the VM
        await conn.execute("UPDATE hosts SET memory_total_mb = 512 WHERE name = $1", b)
    platform.fleet.down.add(a)
    vm = await eventually(
        lambda: _in_state(db, ha_vms[0], "Error"), timeout=60, what="the HA VM in Error"
    )
    alerts = await _events(db, "strato.alert.raised", vm["id"])
    assert [x["payload"]["kind"] for x in alerts] == ["ha-failed"]
    assert a in alerts[0]["payload"]["detail"]
    platform.fleet.down.discard(a)
    await eventually(lambda: _status(db, a, "Up"), timeout=30, what=f"{a} Up again")
    assert platform.fleet.drivers[a].vms == {}
    assert (await _vm(db, ha_vms[0]))["state"] == "Error"  # an operator's call now


async def _in_state(db: Database, vm_id: str, state: str) -> Any:
    vm = await _vm(db, vm_id)
    return vm if vm["state"] == state else None


@pytest.mark.parametrize("kill_when", ["Alert", "Down"])
async def test_ha_finishes_after_an_orchestrator_kill9(
    api: httpx.AsyncClient,
    agents_only: Platform,
    db: Database,
    settings: Settings,
    tmp_path: Path,
    kill_when: str,
) -> None:
    """kill -9 of the orchestrator worker while the host is investigated (Alert) or
    while its HA VMs are being started elsewhere (Down): after a restart HA finishes,
    each HA VM runs exactly once."""
    worker = worker_process(settings, tmp_path / "worker.log")
    worker.start()
    try:
        fab = await vm_zone(api, hosts=1)
        a = fab["hosts"][0]["name"]
        ha_vms, _ = await _vms_on_first_host(api, fab, ha=3, plain=0)
        b = await _add_host(api, fab, "b")
        for name in (a, b):
            await _heartbeating(db, name)
        host_a = await _host(db, a)
        agents_only.fleet.faults.latency_ms = 500  # the HA starts take a while
        agents_only.fleet.down.add(a)
        await eventually(lambda: _status(db, a, kill_when), timeout=40, what=kill_when)
        worker.kill9()
        await asyncio.sleep(1.0)
        worker.start()
        for vm_id in ha_vms:
            await eventually(
                lambda v=vm_id: _running_elsewhere(db, v, host_a["id"]), timeout=90, what="HA"
            )
            assert running_on(agents_only, vm_id) == sorted([a, b])  # and its dead agent's copy
        agents_only.fleet.faults.latency_ms = 0
        agents_only.fleet.down.discard(a)
        await eventually(lambda: _status(db, a, "Up"), timeout=30, what=f"{a} Up again")
        for vm_id in ha_vms:
            assert running_on(agents_only, vm_id) == [b]
    finally:
        worker.stop()


async def test_running_vms_are_sampled_with_the_heartbeats(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    host_id = fab["hosts"][0]["id"]
    vm_id = await running_vm(api, fab)

    async def sampled_twice() -> Any:
        r = await api.get(f"/vms/{vm_id}/stats")
        return r.json() if r.status_code == 200 and r.json()["cpu_percent"] is not None else None

    usage = await eventually(sampled_twice, what="two samples of the VM")
    assert (usage["host_id"], usage["vcpus"], usage["memory_mb"]) == (host_id, 1, 1024)
    assert usage["cpu_percent"] == 0.0  # the simulator's CPU time stands still
    host = await ok(await api.get(f"/hosts/{host_id}/stats"))
    assert (host["vms"], host["memory_mb"], host["cpu_cores_used"]) == (1, 1024, 0.0)
    stop = await ok(await api.post(f"/vms/{vm_id}/stop", json={}), 202)
    assert (await wait_operation(api, stop["operation"]["id"]))["state"] == "succeeded"
    assert (await ok(await api.get(f"/hosts/{host_id}/stats")))["vms"] == 0
    other = await running_vm(api, fab)
    platform.fleet.partitioned.add(fab["hosts"][0]["name"])  # no more beats for a moment
    await asyncio.sleep(1.5)
    async with db.tx() as conn:  # a VM whose host has not reported it yet
        await conn.execute("DELETE FROM vm_stats WHERE vm_id = $1", uuid.UUID(other))
    missing = await api.get(f"/vms/{other}/stats")
    assert missing.status_code == 404 and "no sample yet" in missing.json()["detail"]
    assert (await api.get(f"/vms/{uuid.uuid4()}/stats")).status_code == 404
    platform.fleet.partitioned.clear()


async def test_a_dead_hosts_routers_are_rebuilt_where_their_networks_still_run(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """A guest network's router runs on the host that dies, beside a VM of the network;
    another VM of it runs on another host. Once the host is Down the fenced VM's port is
    plugged nowhere, and the network is restarted: its router runs on the other host,
    with the leases. When the host returns, the router it ran is removed; the doctor
    finds nothing."""
    from tests.workflows.test_guest_networks import networking, running_on

    fab = await networking(api, await vm_zone(api, hosts=1))
    a = fab["hosts"][0]["name"]
    net_id = fab["network"]["id"]
    fenced = await running_on(api, fab, net_id)  # implements the network: its router on a
    b = await _add_host(api, fab, "b")
    await ok(
        await api.patch(f"/hosts/{fab['hosts'][0]['id']}", json={"resource_state": "Disabled"})
    )
    stays = await running_on(api, fab, net_id)
    host_b = await _host(db, b)
    assert stays["host_id"] == str(host_b["id"])
    for name in (a, b):
        await _heartbeating(db, name)

    platform.fleet.down.add(a)
    await eventually(lambda: _status(db, a, "Down"), timeout=40, what=f"{a} Down")

    async def rebuilt() -> Any:
        net = await ok(await api.get(f"/networks/{net_id}"))
        router = platform.fleet.routers[b].routers.get(net_id)
        return router if net["router_host_id"] == str(host_b["id"]) and router else None

    router = await eventually(rebuilt, timeout=60, what=f"the router rebuilt on {b}")
    async with db.conn() as conn:
        nics = {
            str(r["vm_id"]): (r["host_id"], r["mac"])
            for r in await conn.fetch(
                "SELECT vm_id, host_id, mac FROM nics WHERE network_id = $1", uuid.UUID(net_id)
            )
        }
    assert nics[fenced["id"]][0] is None and nics[stays["id"]][0] == host_b["id"]
    # Both leases: a stopped VM keeps its address (and its lease) on its network.
    assert {h.mac for h in router.hosts} == {mac for _, mac in nics.values()}
    assert net_id in platform.fleet.routers[a].routers  # the dead host's, still there

    # The host comes back: the router it ran goes before it could answer for the
    # gateway beside the new one; the new one stays.
    platform.fleet.down.discard(a)
    await eventually(lambda: _status(db, a, "Up"), timeout=40, what=f"{a} Up again")

    async def removed() -> bool:
        async with db.conn() as conn:
            fences = await conn.fetchval("SELECT count(*) FROM router_fences")
        return fences == 0 and net_id not in platform.fleet.routers[a].routers

    await eventually(removed, timeout=30, what=f"the stale router removed from {a}")
    assert platform.fleet.routers[b].routers.get(net_id) is not None
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.findings == [], report.findings
