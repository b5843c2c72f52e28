"""A retried plan-and-claim step (overlapping its first attempt) claims exactly once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.testing import ActivityEnvironment

from strato.activities.compute.records import VmRecordsActivities
from strato.domain.compute.payloads import PlanInput
from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


async def test_overlapping_attempts_agree_on_one_claim(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=5)
    accepted = await deploy(api, fab, start=False)  # Stopped, no claim yet
    await wait_operation(api, accepted["operation"]["id"])
    vm_id = uuid.UUID(accepted["resource"]["id"])
    acts = VmRecordsActivities(db)
    env = ActivityEnvironment()
    inp = PlanInput(vm_id=vm_id)
    placements = await asyncio.gather(*(env.run(acts.vm_plan_claim, inp) for _ in range(8)))
    assert len({p.host_id for p in placements}) == 1
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM host_claims WHERE vm_id = $1", vm_id) == 1
        assert await conn.fetchval("SELECT sum(memory_used_mb) FROM hosts") == 1024
    # a retry that must avoid the claimed host moves the claim, never doubles it
    moved = await env.run(acts.vm_plan_claim, PlanInput(vm_id=vm_id, avoid=[placements[0].host_id]))
    assert moved.host_id != placements[0].host_id
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM host_claims") == 1
        assert await conn.fetchval("SELECT sum(memory_used_mb) FROM hosts") == 1024
