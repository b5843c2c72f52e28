"""The real-host fixtures of the system tests: agent processes on qemu:///system."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from strato.settings import Settings
from strato.workers.network_agent import NetworkAgent
from tests.conftest import Platform
from tests.helpers import LAB_ROOT, ChildProcess, ok, wait_operation
from tests.lab import GUEST_CMDLINE, Lab, wait_console
from tests.workers.agent_helpers import eventually, kvm_zone
from tests.workflows.vm_helpers import deploy


def agent_process(
    settings: Settings,
    lab: Lab,
    fab: dict[str, Any],
    host: str,
    libvirt_uri: str = "qemu:///system",
) -> ChildProcess:
    """``strato agent compute`` for ``host`` on ``libvirt_uri``, as a child process (its
    identity in ``<lab>/agent/<host>``: the same host's next agent is the same agent)."""
    args = ["agent", "compute", "--host", host, "--zone", fab["zone"]["name"]]
    args += ["--cluster", fab["cluster"]["name"], "--libvirt-uri", libvirt_uri]
    args += ["--state-dir", str(lab.dir / "agent" / host)]
    args += ["--console-dir", str(lab.dir / "console")]
    args += ["--heartbeat-s", "1"]
    env = {
        "STRATO_TEMPORAL_ADDRESS": settings.resolved_temporal_address(),
        "STRATO_ORCHESTRATION_QUEUE": settings.orchestration_queue,
        "STRATO_DATA_DIR": str(lab.dir / "data"),
        "STRATO_IMAGE_ROOTS": settings.image_roots,
        "STRATO_POOL_ROOTS": settings.pool_roots,
    }
    return ChildProcess(args, env, lab.dir / f"agent-{host}.log")


@contextlib.asynccontextmanager
async def network_agent(settings: Settings, host: str) -> AsyncIterator[NetworkAgent]:
    """The host's network agent, in this process, on a private Open vSwitch it starts in
    the root namespace (where QEMU runs), every name under a unique prefix; stopped
    cleanly after (its switch, routers and ports go with it)."""
    prefix = f"s{uuid.uuid4().hex[:5]}"
    state = LAB_ROOT / f"net-{prefix}"
    state.mkdir(parents=True, mode=0o755)
    agent = NetworkAgent(
        settings,
        host,
        state,
        ovs_db=f"unix:{state / 'none.sock'}",  # none answers: the agent starts its own
        bridge=f"{prefix}br",
        prefix=prefix,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


async def booted_vm(api: httpx.AsyncClient, fab: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A VM deployed on the zone's real hosts, once its guest has booted (its init saw
    its disks: it can unplug devices from then on)."""
    accepted = await deploy(api, fab, **extra)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    vm: dict[str, Any] = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    await wait_console(vm["console"]["serial_log"], "STRATO-DISKS", timeout=120)
    return vm


@pytest.fixture
def agents() -> Iterator[list[ChildProcess]]:
    started: list[ChildProcess] = []
    yield started
    for a in started:
        a.stop()


@pytest.fixture
async def kvm(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    lab: Lab,
    agents: list[ChildProcess],
) -> AsyncIterator[dict[str, Any]]:
    """A zone with one real host (an agent process on qemu:///system), Up."""
    fab = await kvm_zone(
        api,
        lab.dir / "pool",
        boot={"kernel": lab.kernel, "initrd": lab.initrd, "cmdline": GUEST_CMDLINE},
    )
    host = lab.host()
    agent = agent_process(settings, lab, fab, host).start()
    agents.append(agent)

    async def up() -> Any:
        page = await ok(await api.get("/hosts", params={"name": host}))
        return page["items"] and page["items"][0]["status"] == "Up"

    await eventually(up, timeout=60, what=f"real host {host} Up (log: {agent.log})")
    fab["agent"] = agent
    fab["host"] = host
    yield fab
