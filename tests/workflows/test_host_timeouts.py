"""Timeouts on host steps, with the simulator's failure injection: a host whose agent
is dead (schedule-to-start) and a hypervisor call that hangs (step timeout) both make
the deploy give that host up, undo the attempt and boot on another host."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from strato.domain.ids import compute_queue
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


async def _deploy_lands_elsewhere(
    api: httpx.AsyncClient, platform: Platform, fab: dict[str, Any], bad: str
) -> dict[str, Any]:
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=90)
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    assert vm["state"] == "Running" and vm["host_name"] != bad
    attempts = op["result"]["attempts"]
    assert attempts and attempts[0].startswith(f"{bad}:"), attempts
    async with platform.db.conn() as conn:
        claims = await conn.fetch(
            "SELECT h.name FROM host_claims c JOIN hosts h ON h.id = c.host_id WHERE vm_id = $1",
            vm["id"],
        )
    assert [c["name"] for c in claims] == [vm["host_name"]], "the dead host's claim is released"
    return op


async def test_dead_agent_is_left_after_schedule_to_start(
    api: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    settings.host_reach_s = 2.0
    fab = await vm_zone(api, hosts=2)
    bad = min(h["name"] for h in fab["hosts"])  # first fit tries it first
    platform.fleet.down.add(bad)
    while compute_queue(bad) in platform.fleet.tasks:
        await asyncio.sleep(0.1)
    op = await _deploy_lands_elsewhere(api, platform, fab, bad)
    assert "schedule" in op["result"]["attempts"][0].lower(), op["result"]["attempts"]


async def test_hung_hypervisor_call_is_cut_by_the_step_timeout(
    api: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    settings.host_step_timeout_s = 2.0
    fab = await vm_zone(api, hosts=2)
    bad = min(h["name"] for h in fab["hosts"])
    faults = platform.fleet.faults
    faults.fail_targets, faults.fail_ops, faults.hang_rate = (
        frozenset({bad}),
        frozenset({"define_vm"}),
        1.0,
    )
    op = await _deploy_lands_elsewhere(api, platform, fab, bad)
    assert "timeout" in op["result"]["attempts"][0].lower(), op["result"]["attempts"]
    assert platform.fleet.drivers[bad].vms == {}, "the hung attempt left nothing defined"
