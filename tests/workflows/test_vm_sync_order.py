"""VM sync orders a hypervisor's report against VM changes by a number the database
issued before the report was taken (its watermark), never by the agent's clock: a stale
report cannot flip a freshly Running VM to Stopped however far ahead that clock runs, and
a fresh one corrects drift however far behind it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import ActivityEnvironment

from strato.activities.fabric.records import RecordsActivities
from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric.monitor import HeartbeatsInput, HostBeat
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


def _in_batch(host: dict[str, Any], agent: uuid.UUID, **hb: Any) -> HostBeat:
    return HostBeat(
        host_id=uuid.UUID(host["id"]),
        host_name=host["name"],
        heartbeat=HostHeartbeat(agent_id=agent, sent_at=datetime.now(UTC), **hb),
    )


async def test_a_batch_records_each_beat_as_one_at_a_time_would(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """One batch of four: a quiet host (recorded with the others), a host with a running
    VM whose report says it stopped (its VM sync corrects it), a host whose agent stops
    (Disconnected) and a host another agent owns (not accepted)."""
    fab = await vm_zone(api, hosts=4)
    quiet, busy, stopping, foreign = fab["hosts"]
    vm_id = await running_vm(api, fab)
    async with db.tx() as conn:
        await conn.execute(
            "UPDATE vms SET host_id = $2 WHERE id = $1", uuid.UUID(vm_id), uuid.UUID(busy["id"])
        )
        await conn.execute(
            "UPDATE hosts SET agent_id = $2 WHERE id = $1", uuid.UUID(foreign["id"]), uuid.uuid4()
        )
        watermark = await conn.fetchval("SELECT nextval('vm_change_seq')")
    agent = uuid.uuid4()
    off = VmPowerInfo(name=f"strato-{vm_id}", uuid=vm_id, power=PowerState.STOPPED)
    inp = HeartbeatsInput(
        monitor_id="host-monitors:test:1",
        beats=[
            _in_batch(quiet, agent),
            _in_batch(busy, agent, vms=[off], watermark=watermark),
            _in_batch(stopping, agent, stopping=True),
            _in_batch(foreign, agent),
        ],
    )
    result = await ActivityEnvironment().run(RecordsActivities(db).host_heartbeats, inp)
    got = {k: (r.accepted, r.status, r.corrected) for k, r in result.results.items()}
    assert got[quiet["id"]] == (True, "Up", [])
    assert got[busy["id"]][:2] == (True, "Up") and len(got[busy["id"]][2]) == 1
    assert got[stopping["id"]] == (True, "Disconnected", [])
    assert got[foreign["id"]][0] is False
    async with db.conn() as conn:
        rows = {
            str(r["id"]): r
            for r in await conn.fetch(
                "SELECT id, monitor_id FROM hosts WHERE zone_id = $1", uuid.UUID(fab["zone"]["id"])
            )
        }
    assert {k: r["monitor_id"] for k, r in rows.items() if r["monitor_id"]} == {
        h["id"]: "host-monitors:test:1" for h in (quiet, busy, stopping)
    }
    async with db.conn() as conn:
        state = await conn.fetchval("SELECT state FROM vms WHERE id = $1", uuid.UUID(vm_id))
    assert state == "Stopped"
    # Each reply carries a watermark for the host's next report, and its pools.
    assert result.results[quiet["id"]].watermark is not None
    assert result.results[quiet["id"]].pools == []
