"""The compute agent against libvirt's test:/// driver (in this process, so a test can
change the hypervisor behind Strato's back through its own connection): registration,
refusals that write nothing, heartbeats, host liveness, and VM sync."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from strato.settings import Settings
from strato.workers.compute_agent import AgentError, ComputeAgent
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.lab import libvirt_module
from tests.workers.agent_helpers import AgentTask, agent_config, eventually, kvm_zone
from tests.workflows.vm_helpers import deploy

TEST_URI = "test:///default"


@pytest.fixture
def libvirt() -> Any:
    return libvirt_module()


async def host_row(db: Database, name: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchrow("SELECT * FROM hosts WHERE name = $1", name)


async def events_of(db: Database, type_: str) -> list[Any]:
    async with db.conn() as conn:
        return list(await conn.fetch("SELECT * FROM events WHERE type = $1 ORDER BY seq", type_))


async def test_agent_registers_and_heartbeats_its_host_up(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
) -> None:
    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    cfg = agent_config(fab, name, tmp_path / "state", libvirt_uri=TEST_URI)
    agent = await AgentTask(platform.client, settings, cfg).start()
    try:
        row = await eventually(
            lambda: _up(db, name), what=f"host {name} Up after the first heartbeat"
        )
        assert row["hypervisor"] == "kvm" and row["url"] == TEST_URI
        assert (row["cpu_cores"], row["memory_total_mb"]) == (16, 3072)  # test driver's node
        assert "test" in row["hypervisor_version"] and row["last_heartbeat_at"] is not None
        assert row["capabilities"]["hotplug_disk"] is False  # declared by the test driver
        assert row["agent_id"] == agent.agent.agent_id
        # The API shows it like any host.
        hosts = await ok(await api.get("/hosts", params={"name": name}))
        assert [h["status"] for h in hosts["items"]] == ["Up"]
    finally:
        await agent.close()
    # A clean stop says so at once: the host is Disconnected, with the reason.
    row = await eventually(lambda: _status(db, name, "Disconnected"), what="Disconnected")
    assert row["last_error"] == "the agent stopped"

    # The same agent (same state file) comes back: same host, Up again.
    again = await AgentTask(platform.client, settings, cfg).start()
    try:
        back = await eventually(lambda: _up(db, name), what="Up again")
        assert back["id"] == row["id"]
    finally:
        await again.close()


async def _up(db: Database, name: str) -> Any:
    return await _status(db, name, "Up")


async def _status(db: Database, name: str, status: str) -> Any:
    row = await host_row(db, name)
    return row if row is not None and row["status"] == status else None


async def test_a_dead_agents_host_goes_down_and_its_vm_is_fenced_on_return(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
) -> None:
    """The agent dies (no last heartbeat) and its domain keeps running: the host goes
    Alert; with no other host in its cluster the orchestrator probes the agent's health
    endpoint, finds nothing, twice: Down, the VM Stopped and fenced. The agent returns,
    destroys the domain before its host is Up, and the VM runs nowhere."""
    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    cfg = agent_config(fab, name, tmp_path / "state", libvirt_uri=TEST_URI)
    conn = libvirt.open(TEST_URI)  # the in-process test hypervisor the agent drives
    agent = await AgentTask(platform.client, settings, cfg).start()
    try:
        row = await eventually(lambda: _up(db, name), what="Up")
        assert row["agent_endpoint"] == agent.agent.health.url  # type: ignore[union-attr]
        accepted = await deploy(api, fab)
        assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
        vm_id = accepted["resource"]["id"]
        assert agent.task is not None
        agent.task.cancel()  # a crash: no last heartbeat; the domain is left running
        await asyncio.gather(agent.task, return_exceptions=True)
        assert conn.lookupByUUIDString(vm_id).isActive()
        row = await eventually(lambda: _status(db, name, "Down"), timeout=30, what="Down")
        assert "did not answer orchestrator" in row["last_error"]
        moves = [(e["old_state"], e["new_state"]) for e in await _host_moves(db, row["id"])]
        assert moves[-2:] == [("Up", "Alert"), ("Alert", "Down")]
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert (vm["state"], vm["host_id"]) == ("Stopped", None)
        assert [e["payload"]["host"] for e in await events_of(db, "strato.vm.fenced")] == [name]

        again = await AgentTask(platform.client, settings, cfg).start()
        try:
            await eventually(lambda: _up(db, name), what="Up after the agent returned")
            assert vm_id not in {d.UUIDString() for d in conn.listAllDomains()}
            assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Stopped"
        finally:
            await again.close()
    finally:
        conn.close()


async def test_an_agent_whose_heartbeats_are_lost_is_disconnected_not_down(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its heartbeats stop arriving (a partition between it and Temporal) but its health
    endpoint answers the probe: the host is Disconnected and its VM keeps running."""
    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    cfg = agent_config(fab, name, tmp_path / "state", libvirt_uri=TEST_URI)
    agent = await AgentTask(platform.client, settings, cfg).start()
    try:
        await eventually(lambda: _up(db, name), what="Up")
        accepted = await deploy(api, fab)
        assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
        vm_id = accepted["resource"]["id"]
        real = agent.agent.heartbeat

        async def lost(**_: Any) -> None:
            return None  # the beat never arrives

        monkeypatch.setattr(agent.agent, "heartbeat", lost)
        row = await eventually(
            lambda: _status(db, name, "Disconnected"), timeout=30, what="Disconnected"
        )
        assert "answers orchestrator" in row["last_error"]
        await asyncio.sleep(3)  # two windows more: still Disconnected, nothing fenced
        assert (await host_row(db, name))["status"] == "Disconnected"
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert (vm["state"], vm["host_id"]) == ("Running", str(row["id"]))
        assert await events_of(db, "strato.vm.fenced") == []
        monkeypatch.setattr(agent.agent, "heartbeat", real)
        await eventually(lambda: _up(db, name), what="Up when heartbeats arrive again")
    finally:
        await agent.close()


async def _host_moves(db: Database, host_id: Any) -> list[Any]:
    async with db.conn() as conn:
        return list(
            await conn.fetch(
                """SELECT * FROM events WHERE type = 'strato.host.state_changed'
                   AND resource_id = $1 ORDER BY seq""",
                host_id,
            )
        )


async def test_name_taken_by_another_agent_is_refused_and_changes_nothing(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
) -> None:
    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    first = await AgentTask(
        platform.client,
        settings,
        agent_config(fab, name, tmp_path / "a", libvirt_uri=TEST_URI),
    ).start()
    try:
        before = await eventually(lambda: _up(db, name), what="Up")
        counts = await table_counts(db)
        intruder = ComputeAgent(
            platform.client, settings, agent_config(fab, name, tmp_path / "b", libvirt_uri=TEST_URI)
        )
        with pytest.raises(AgentError, match=f"host name {name} is registered by another agent"):
            await intruder.run(asyncio.Event())
        after = await host_row(db, name)
        assert after["agent_id"] == before["agent_id"] and after["version"] == before["version"]
        assert await table_counts(db) == counts
        # A simulator host's name is just as taken.
        sim = await ok(
            await api.post(
                "/clusters",
                json={"pod_id": fab["pod"]["id"], "name": "sim", "hypervisor": "simulator"},
            ),
            201,
        )
        r = await ok(
            await api.post("/hosts", json={"cluster_id": sim["id"], "name": unique("s")}), 202
        )
        await wait_operation(api, r["operation"]["id"])
        sim_name = r["resource"]["name"]
        clash = ComputeAgent(
            platform.client,
            settings,
            agent_config(fab, sim_name, tmp_path / "c", libvirt_uri=TEST_URI),
        )
        with pytest.raises(AgentError, match="is taken by a simulator host"):
            await clash.register()
    finally:
        await first.close()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"libvirt_uri": "qemu+unix:///system?socket=/nonexistent/libvirt-sock"}, "cannot connect"),
        ({"cluster": "no-such-cluster"}, "no cluster named no-such-cluster"),
        ({"zone": "no-such-zone"}, "no cluster named"),
    ],
)
async def test_bad_agent_configuration_registers_nothing(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
    change: dict[str, str],
    why: str,
) -> None:
    fab = await kvm_zone(api, host_dir / "pool")
    counts = await table_counts(db)
    opts: dict[str, Any] = {"libvirt_uri": TEST_URI} | change
    cfg = agent_config(fab, unique("kvm"), tmp_path / "state", **opts)
    with pytest.raises(AgentError, match=why):
        await ComputeAgent(platform.client, settings, cfg).run(asyncio.Event())
    assert await table_counts(db) == counts


async def test_vm_sync_corrects_drift_and_reports_unknown_domains_once(
    api: httpx.AsyncClient, db: Database, host_dir: Path, libvirt: Any, kvm_agent: dict[str, Any]
) -> None:
    fab, name = kvm_agent, kvm_agent["host"]
    conn = libvirt.open(TEST_URI)  # the same in-process test hypervisor the agent drives
    try:
        host = await host_row(db, name)
        accepted = await deploy(api, fab)
        op = await wait_operation(api, accepted["operation"]["id"])
        assert op["state"] == "succeeded", op
        vm_id = accepted["resource"]["id"]
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert vm["state"] == "Running" and vm["host_id"] == str(host["id"])
        # The volume is a real qcow2 file in the pool.
        assert list((host_dir / "pool").glob("*.qcow2"))

        # The test driver's own predefined domain is nobody's: reported once, not per beat.
        await eventually(
            lambda: events_of(db, "strato.host.unknown_vm"), what="unknown-domain event"
        )
        await asyncio.sleep(2)  # several more heartbeats
        unknown = await events_of(db, "strato.host.unknown_vm")
        assert [e["payload"]["domain"] for e in unknown] == ["test"]

        # Behind Strato's back: the domain is powered off.
        dom = conn.lookupByUUIDString(vm_id)
        dom.destroy()
        vm = await eventually(lambda: _vm_in(api, vm_id, "Stopped"), what="VM corrected to Stopped")
        assert vm["host_id"] is None
        drift = await events_of(db, "strato.vm.drift")
        assert len(drift) == 1
        assert drift[0]["payload"]["observed"] == "stopped"
        assert drift[0]["payload"]["recorded"] == "Running"
        assert (drift[0]["old_state"], drift[0]["new_state"]) == ("Running", "Stopped")
        row = await host_row(db, name)
        assert (row["cpu_used_mhz"], row["memory_used_mb"]) == (0, 0)  # capacity released

        # And started again behind its back: Running on this host, capacity claimed.
        dom.create()
        await eventually(lambda: _vm_in(api, vm_id, "Running"), what="VM corrected to Running")
        row = await host_row(db, name)
        assert (row["cpu_used_mhz"], row["memory_used_mb"]) == (500, 96)
        assert len(await events_of(db, "strato.vm.drift")) == 2

        # Strato's own stop is not drift.
        stop = await ok(await api.post(f"/vms/{vm_id}/stop", json={}), 202)
        assert (await wait_operation(api, stop["operation"]["id"]))["state"] == "succeeded"
        await asyncio.sleep(1.5)
        assert len(await events_of(db, "strato.vm.drift")) == 2
        assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Stopped"
    finally:
        conn.close()


async def _vm_in(api: httpx.AsyncClient, vm_id: str, state: str) -> Any:
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    return vm if vm["state"] == state else None


@pytest.fixture
async def kvm_agent(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    libvirt: Any,
) -> AsyncIterator[dict[str, Any]]:
    """A kvm zone (its qcow2 pool in ``host_dir``) with one in-process agent on test:///,
    its host Up."""
    fab = await kvm_zone(api, host_dir / "pool")
    fab["host"] = unique("kvm")
    cfg = agent_config(fab, fab["host"], tmp_path / "state", libvirt_uri=TEST_URI)
    agent = await AgentTask(platform.client, settings, cfg).start()
    try:
        await eventually(lambda: _up(db, fab["host"]), what=f"host {fab['host']} Up")
        yield fab
    finally:
        await agent.close()


async def test_a_template_that_leads_outside_the_image_roots_fails_on_the_agent(
    api: httpx.AsyncClient, settings: Settings, host_dir: Path, kvm_agent: dict[str, Any]
) -> None:
    """The API accepts the URL (as written it is under an image root), the agent resolves
    it to /etc/passwd and refuses: the deploy fails at once (a permanent failure), with
    the reason, and no volume is made."""
    images = settings.image_root_list[-1]  # this test's own image root
    os.makedirs(images)
    os.symlink("/etc/passwd", f"{images}/evil.qcow2")
    evil = await ok(
        await api.post(
            "/templates",
            json={"name": unique("evil"), "url": f"file://{images}/evil.qcow2", "size_bytes": 1},
        ),
        201,
    )
    accepted = await deploy(api, kvm_agent, template_id=evil["id"])
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "failed", op
    assert op["error"]["type"] == "template-unusable", op
    assert "leads to /etc/passwd" in op["error"]["message"], op
    assert not list((host_dir / "pool").glob("*.qcow2"))
