"""The blue/green example (examples/bluegreen), a developer's workflow written only with
the SDK, against the platform's own processes: its worker and Strato's orchestrator are
each killed -9 at seeded random moments of a redeploy and started again; the run ends
with the new generation serving behind the rules, the old one expunged, and no VM,
address or rule left over. STRATO_BLUEGREEN_SEEDS=1,2,3 runs more seeds."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.embedded.up import wait_http
from strato.sdk import AsyncStratoClient
from strato.sdk import worker as sdk_worker
from strato.settings import Settings
from tests.conftest import Platform, free_port
from tests.helpers import ChildProcess, unique
from tests.workflows.test_guest_networks import guest_zone
from tests.workflows.test_vm_crash import agents_only, worker_process

__all__ = ["agents_only"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bluegreen" / "run.py"
SEEDS = [int(s) for s in os.environ.get("STRATO_BLUEGREEN_SEEDS", "20261203").split(",")]


@pytest.fixture
def api_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """``strato api`` as a process: what the developer's worker talks to."""
    port = free_port()
    proc = ChildProcess(
        ["api", "--port", str(port)],
        {
            "STRATO_DATABASE_URL": str(settings.database_url),
            "STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address),
            "STRATO_ORCHESTRATION_QUEUE": settings.orchestration_queue,
            "STRATO_TEMPLATES_QUEUE": settings.templates_queue,
        },
        tmp_path / "api.log",
    ).start()
    assert proc.proc is not None
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/v1/health", proc.proc, 30, "the API")
        yield url
    finally:
        proc.stop()


def dev_worker(settings: Settings, api_url: str, token: str, app: str, log: Path) -> ChildProcess:
    worker = ChildProcess(
        [],
        {
            "STRATO_API_URL": api_url,
            "STRATO_API_KEY": token,
            "STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address),
        },
        log,
    )
    worker.args = [sys.executable, str(EXAMPLE), "worker", "--app", app]
    return worker


async def _killing(
    rng: random.Random, procs: dict[str, ChildProcess], done: asyncio.Event, log: list[str]
) -> None:
    """Two kill -9s of each of ``procs`` at seeded moments of the run's first 5 s, each
    started again 0.2-1 s later (then the run is left to finish)."""
    moments = sorted((rng.uniform(0.5, 5.0), name) for name in sorted(procs) for _ in range(2))
    began = asyncio.get_running_loop().time()
    for at, name in moments:
        await asyncio.sleep(max(0.0, began + at - asyncio.get_running_loop().time()))
        if done.is_set():
            return
        procs[name].kill9()
        log.append(f"{name} at {at:.1f}s")
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        procs[name].start()


async def _group(sdk: AsyncStratoClient, prefix: str) -> dict[str, str]:
    return {v["name"]: v["state"] async for v in sdk.vms.list() if v["name"].startswith(prefix)}


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_redeploy_survives_kill9s_of_its_worker_and_the_orchestrator(
    api: httpx.AsyncClient,
    agents_only: Platform,
    settings: Settings,
    temporal_client: Client,
    sdk: AsyncStratoClient,
    admin_token: str,
    api_url: str,
    tmp_path: Path,
    seed: int,
) -> None:
    agents_only.fleet.faults.latency_ms = 150  # host steps take a while: kills land mid-step
    orchestrator = worker_process(settings, tmp_path / "orchestrator.log").start()
    app = unique("bg")
    worker = dev_worker(settings, api_url, admin_token, app, tmp_path / "dev.log").start()
    try:
        fab = await guest_zone(api)
        ip = await sdk.public_ips.create(zone_id=fab["zone"]["id"], network_id=fab["network"]["id"])
        group = unique("web")
        spec: dict[str, Any] = {
            "group": group,
            "generation": 1,
            "size": 2,
            "zone_id": fab["zone"]["id"],
            "service_offering_id": fab["offering"]["id"],
            "template_id": fab["template"]["id"],
            "network_id": fab["network"]["id"],
            "ip_id": ip["id"],
            "base_port": 8080,
            "private_port": 80,
            "serving": [],
        }
        first = await sdk_worker.start(
            temporal_client, "BlueGreenRedeploy", spec, app=app, id=f"bg-{uuid.uuid4()}"
        )
        blue: dict[str, Any] = await asyncio.wait_for(first.result(), 120)
        assert [m["name"] for m in blue["serving"]] == [f"{group}-g1-0", f"{group}-g1-1"]

        # The redeploy, with kill -9s of the developer's worker and the orchestrator.
        rng = random.Random(seed)
        killed: list[str] = []
        done = asyncio.Event()
        procs = {"developer worker": worker, "orchestrator": orchestrator}
        killer = asyncio.create_task(_killing(rng, procs, done, killed))
        second = await sdk_worker.start(
            temporal_client,
            "BlueGreenRedeploy",
            {**spec, "generation": 2, "serving": blue["serving"]},
            app=app,
            id=f"bg-{uuid.uuid4()}",
        )
        try:
            green: dict[str, Any] = await asyncio.wait_for(second.result(), 240)
        finally:
            done.set()
            await killer
        print(f"seed {seed}: killed {killed}")
        assert killed, "nothing was killed: the run ended before the first kill"
    finally:
        worker.stop()
        orchestrator.stop()

    names = [f"{group}-g2-0", f"{group}-g2-1"]
    assert [m["name"] for m in green["serving"]] == names
    # the new generation runs, the old one is expunged, and there is no other VM
    assert await _group(sdk, group) == {
        names[0]: "Running",
        names[1]: "Running",
        f"{group}-g1-0": "Expunged",
        f"{group}-g1-1": "Expunged",
    }
    # the address's rules: exactly one per member, to its new VM
    rules = [r async for r in sdk.public_ips.sub(ip["id"], "port-forwarding-rules").list()]
    assert sorted((r["public_start"], r["vm_id"], r["id"]) for r in rules) == [
        (8080 + i, m["vm"], m["rule"]) for i, m in enumerate(green["serving"])
    ]
    # no address taken besides the group's and the network's source NAT
    held = [p async for p in sdk.public_ips.list() if p["state"] != "Free"]
    assert sorted(p["id"] for p in held if not p["source_nat"]) == [ip["id"]], held
