"""Processes without database access in the services directory: they announce
themselves through Temporal (DirectoryAnnounce; the orchestrator records), the
directory checks their health endpoints, a clean stop withdraws them, and one killed
outright turns critical and is removed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from strato.domain.directory.models import ServiceInstance
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, directory_keeper, unique
from tests.lab import libvirt_module
from tests.netlab import NetLab, netlab, sh
from tests.workers.agent_helpers import AgentTask, agent_config, eventually, kvm_zone

__all__ = ["netlab"]


@pytest.fixture
async def keeper(db: Database) -> AsyncIterator[None]:
    async with directory_keeper(db):
        yield


async def named(db: Database, name: str) -> ServiceInstance | None:
    async with db.conn() as conn:
        found = await registry.listing(conn, kind=None, zone=None, health=None)
    return next((i for i in found if i.name == name), None)


async def of_kind(db: Database, kind: str) -> list[ServiceInstance]:
    async with db.conn() as conn:
        return await registry.listing(conn, kind=kind, zone=None, health=None)


async def test_a_compute_agent_is_announced_checked_and_withdrawn(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
    keeper: None,
) -> None:
    libvirt_module()  # skips (or fails under STRATO_REQUIRE_LIBVIRT) without libvirt
    on = settings.model_copy(update={"directory_register": True, "directory_ttl_s": 3})
    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    cfg = agent_config(fab, name, tmp_path / "state", libvirt_uri="test:///default")
    agent = await AgentTask(platform.client, on, cfg).start()
    me = f"compute-agent@{name}"
    try:

        async def checked() -> ServiceInstance | None:
            i = await named(db, me)
            return i if i is not None and i.checked_at is not None else None

        instance = await eventually(checked, what=f"{me} announced and checked")
        assert agent.agent.health is not None
        url = agent.agent.health.url
        assert (instance.kind, instance.zone, instance.health) == (
            "compute-agent",
            fab["zone"]["name"],
            "passing",
        )
        assert (instance.check_kind, instance.check_target) == ("http", url)
        assert [e.url for e in instance.endpoints] == [url]
        assert instance.metadata["queue"] == f"compute@{name}"
        # discoverable by kind and zone through the API
        found = (
            await api.get(
                "/services/discover", params={"kind": "compute-agent", "zone": fab["zone"]["name"]}
            )
        ).json()
        assert {"url": url, "protocol": "http"} in found
    finally:
        await agent.close()
    # a clean stop withdraws it at once
    await eventually(lambda: _gone(db, me), what=f"{me} withdrawn")
    async with db.conn() as conn:
        reasons = await conn.fetch(
            "SELECT payload->>'reason' AS r FROM events WHERE type = "
            "'strato.service.deregistered' AND payload->>'name' = $1",
            me,
        )
    assert [r["r"] for r in reasons] == ["stopped"]


async def _gone(db: Database, name: str) -> bool:
    return await named(db, name) is None


async def test_a_killed_template_service_turns_critical_and_is_removed(
    platform: Platform, settings: Settings, db: Database, tmp_path: Path, keeper: None
) -> None:
    service = ChildProcess(
        ["service", "templates"],
        {
            "STRATO_TEMPORAL_ADDRESS": settings.resolved_temporal_address(),
            "STRATO_ORCHESTRATION_QUEUE": settings.orchestration_queue,
            "STRATO_TEMPLATES_QUEUE": f"templates-{unique('q')}",
            "STRATO_DIRECTORY_REGISTER": "true",
            "STRATO_DIRECTORY_TTL_S": "2",
            "STRATO_DIRECTORY_DEREGISTER_AFTER_S": "2",
        },
        tmp_path / "templates.log",
    ).start()
    try:
        assert service.proc is not None
        pid = service.proc.pid

        async def mine() -> ServiceInstance | None:
            found = [i for i in await of_kind(db, "template-service") if i.name.endswith(f"/{pid}")]
            return found[0] if found and found[0].checked_at is not None else None

        instance = await eventually(mine, what="the template service announced and checked")
        assert instance.health == "passing" and instance.check_kind == "http"
        # its health endpoint answers while it runs
        async with httpx.AsyncClient() as http:
            assert (await http.get(instance.check_target or "")).status_code == 200
        service.kill9()
        seen: set[str] = set()

        async def removed() -> bool:
            i = await named(db, instance.name)
            seen.add(i.health if i is not None else "removed")
            return i is None

        await eventually(removed, timeout=30, what="the killed service removed")
        assert "critical" in seen, seen
    finally:
        with contextlib.suppress(Exception):
            service.stop()


async def test_a_network_agent_is_announced_and_withdrawn(
    platform: Platform, settings: Settings, db: Database, netlab: NetLab, keeper: None
) -> None:
    from strato.workers.network_agent import NetworkAgent

    on = settings.model_copy(update={"directory_register": True, "directory_ttl_s": 3})
    host = f"{netlab.prefix}d{uuid.uuid4().hex[:4]}"
    ns = f"{netlab.prefix}-d{uuid.uuid4().hex[:4]}"
    sh("ip", "netns", "add", ns)
    netlab.namespaces.append(ns)
    agent = NetworkAgent(
        on,
        host,
        netlab.state_dir / f"agent-{host}",
        ovs_db="unix:/nonexistent/db.sock",  # a private OVS of its own, in ``ns``
        bridge=f"{netlab.prefix}j{uuid.uuid4().hex[:3]}",
        netns=ns,
        prefix=netlab.prefix,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    me = f"network-agent@{host}"
    try:

        async def checked() -> ServiceInstance | None:
            i = await named(db, me)
            return i if i is not None and i.checked_at is not None else None

        instance = await eventually(checked, what=f"{me} announced and checked")
        assert (instance.kind, instance.health, instance.check_kind) == (
            "network-agent",
            "passing",
            "http",
        )
        assert instance.metadata == {"host": host, "queue": f"network@{host}"}
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    await eventually(lambda: _gone(db, me), what=f"{me} withdrawn")
