"""Running compute agents in-process for tests, and a kvm zone for them to join."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from strato.settings import Settings
from strato.workers.compute_agent import AgentConfig, ComputeAgent
from tests.helpers import make_fabric, ok, pool_body, unique


async def kvm_zone(
    api: httpx.AsyncClient,
    pool_dir: Path,
    *,
    memory_mb: int = 96,
    boot: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A zone with a kvm cluster, a qcow2 pool in ``pool_dir``, an offering, a template
    and a guest network; no hosts (agents register them)."""
    fab = await make_fabric(api, hypervisor="kvm")
    fab["pool"] = await ok(
        await api.post(
            "/storage-pools",
            json=pool_body(fab["cluster"]["id"], "qcow2", f"file://{pool_dir}"),
        ),
        201,
    )
    fab["offering"] = await ok(
        await api.post(
            "/service-offerings",
            json={
                "name": unique("tiny"),
                "cpu_count": 1,
                "cpu_speed_mhz": 500,
                "memory_mb": memory_mb,
            },
        ),
        201,
    )
    fab["template"] = await ok(
        await api.post(
            "/templates",
            json={"name": unique("tiny-linux"), "size_bytes": 64 << 20, "boot": boot or {}},
        ),
        201,
    )
    fab["network"] = await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": "guest",
                "cidr": "10.30.0.0/24",
                "gateway": "10.30.0.1",
                "ip_start": "10.30.0.10",
                "ip_end": "10.30.0.250",
            },
        ),
        201,
    )
    return fab


class AgentTask:
    """A ComputeAgent running as a task of this test's event loop."""

    def __init__(self, client: Client, settings: Settings, cfg: AgentConfig) -> None:
        self.agent = ComputeAgent(client, settings, cfg)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> AgentTask:
        self.task = asyncio.create_task(self.agent.run(self.stop))
        await asyncio.sleep(0)
        return self

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 30)


def agent_config(fab: dict[str, Any], host: str, state_dir: Path, **kw: Any) -> AgentConfig:
    kw.setdefault("zone", fab["zone"]["name"])
    kw.setdefault("cluster", fab["cluster"]["name"])
    kw.setdefault("heartbeat_s", 0.5)
    return AgentConfig(host=host, state_dir=state_dir, **kw)


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")
