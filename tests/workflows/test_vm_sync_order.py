"""VM sync orders a hypervisor's report against VM changes by a number the database
issued before the report was taken (its watermark), never by the agent's clock: a stale
report cannot flip a freshly Running VM to Stopped however far ahead that clock runs, and
a fresh one corrects drift however far behind it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric.payloads import HostHeartbeat, HostHeartbeatInput, HostHeartbeatResult
from strato.schema.compute import vms
from strato.schema.db import Database
from strato.schema.fabric import agents
from tests.conftest import Platform
from tests.helpers import ok
from tests.workflows.vm_helpers import running_vm, vm_zone


async def _beat(
    db: Database, host_id: str, vm_id: str, *, watermark: int | None, clock: timedelta
) -> HostHeartbeatResult:
    """The host's agent reports the VM's domain shut off, its clock off by ``clock``."""
    hb = HostHeartbeat(
        agent_id=uuid.uuid4(),
        sent_at=datetime.now(UTC) + clock,
        vms=[VmPowerInfo(name=f"strato-{vm_id}", uuid=vm_id, power=PowerState.STOPPED)],
        watermark=watermark,
    )
    async with db.tx() as conn:
        return await agents.heartbeat(
            conn, HostHeartbeatInput(host_id=uuid.UUID(host_id), heartbeat=hb)
        )


async def _vm(db: Database, vm_id: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchrow(
            """SELECT v.state, v.host_id, v.change_seq, c.vm_id IS NOT NULL AS claimed,
                      (SELECT count(*) FROM events e
                       WHERE e.type = 'strato.vm.drift' AND e.resource_id = v.id) AS drifts
               FROM vms v LEFT JOIN host_claims c ON c.vm_id = v.id WHERE v.id = $1""",
            uuid.UUID(vm_id),
        )


async def test_a_report_older_than_a_change_never_undoes_it(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    host_id = fab["hosts"][0]["id"]
    async with db.conn() as conn:
        before_boot = await vms.watermark(conn)  # issued before the VM booted
    vm_id = await running_vm(api, fab)
    running = await _vm(db, vm_id)
    assert (running["state"], str(running["host_id"]), running["claimed"]) == (
        "Running",
        host_id,
        True,
    )

    # A report taken before the boot, from an agent whose clock runs a day ahead: the old
    # comparison (agent time against updated_at) took it for newer than the boot.
    result = await _beat(db, host_id, vm_id, watermark=before_boot, clock=timedelta(days=1))
    assert result.accepted and result.corrected == []
    assert dict(await _vm(db, vm_id)) == dict(running), "a stale report changed the VM"

    # An agent's first report (no watermark yet) corrects nothing either.
    result = await _beat(db, host_id, vm_id, watermark=None, clock=timedelta(days=1))
    assert result.corrected == [] and (await _vm(db, vm_id))["state"] == "Running"
    # ...and every heartbeat hands back a watermark for the agent's next report.
    assert result.watermark is not None and result.watermark > before_boot

    # A report taken after the boot, from an agent whose clock runs a day behind: the VM
    # really is off, so it is corrected, its capacity released, a drift event written.
    fresh = result.watermark
    result = await _beat(db, host_id, vm_id, watermark=fresh, clock=-timedelta(days=1))
    assert result.corrected == [(await ok(await api.get(f"/vms/{vm_id}")))["name"]]
    after = await _vm(db, vm_id)
    assert (after["state"], after["host_id"], after["claimed"], after["drifts"]) == (
        "Stopped",
        None,
        False,
        1,
    )
    # The correction itself is a change after that watermark: the same report again,
    # or any report taken before the correction, leaves the row alone.
    assert after["change_seq"] > fresh
    result = await _beat(db, host_id, vm_id, watermark=fresh, clock=timedelta(0))
    assert result.corrected == [] and (await _vm(db, vm_id))["drifts"] == 1
