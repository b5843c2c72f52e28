"""The usage service: a scripted day of activity (made through the API in seconds, its
events then laid onto a day two days ago: the fast clock) gives exactly the expected
hourly records, also with the usage process killed -9 again and again mid-run; applying
the events a second time (a rewound position: a redelivery) changes nothing."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from strato.api.app import create_app
from strato.schema import events
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.services import loader
from strato.services.usage.service import UsageService
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, unique, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone

ACCOUNT = "usage-acct-1"
GiB = 1 << 30


async def _watermark(db: Database) -> int:
    async with db.conn() as conn:
        return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM events"))


async def _at(db: Database, since: int, when: datetime) -> int:
    """Every event written after ``since`` (seq) happened at ``when``; the new mark."""
    async with db.tx() as conn:
        await conn.execute("UPDATE events SET time = $1 WHERE seq > $2", when, since)
    return await _watermark(db)


async def _done(api: httpx.AsyncClient, accepted: dict[str, Any]) -> None:
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op


async def _scripted_day(api: httpx.AsyncClient, db: Database, base: datetime) -> dict[str, str]:
    fab = await vm_zone(api, hosts=1, network=False)
    mark = await _watermark(db)
    vm1 = await deploy(api, fab, owner=ACCOUNT)
    vm2 = await deploy(api, fab, owner=ACCOUNT, start=False)
    body = {"name": unique("v"), "zone_id": fab["zone"]["id"], "size_gb": 2, "owner": ACCOUNT}
    vol = await ok(await api.post("/volumes", json=body), 201)
    for accepted in (vm1, vm2):
        await _done(api, accepted)
    mark = await _at(db, mark, base)  # 00:00
    vm1_id, vm2_id = vm1["resource"]["id"], vm2["resource"]["id"]
    await _done(api, await ok(await api.post(f"/vms/{vm1_id}/stop"), 202))
    mark = await _at(db, mark, base + timedelta(hours=3))
    await _done(api, await ok(await api.post(f"/vms/{vm1_id}/start"), 202))
    mark = await _at(db, mark, base + timedelta(hours=5))
    destroy = {"expunge": True}
    await _done(api, await ok(await api.post(f"/vms/{vm2_id}/destroy", json=destroy), 202))
    mark = await _at(db, mark, base + timedelta(hours=9))
    await _done(api, await ok(await api.post(f"/vms/{vm1_id}/destroy", json=destroy), 202))
    await _done(api, await ok(await api.post(f"/volumes/{vol['id']}/destroy"), 202))
    await _at(db, mark, base + timedelta(hours=20))
    async with db.conn() as conn:
        rows = await conn.fetch(
            "SELECT id, root_volume_id FROM vms WHERE id = ANY($1::uuid[])", [vm1_id, vm2_id]
        )
    roots = {str(r["id"]): str(r["root_volume_id"]) for r in rows}
    return {
        "vm1": vm1_id,
        "vm2": vm2_id,
        "vol": vol["id"],
        "root1": roots[vm1_id],
        "root2": roots[vm2_id],
    }


def _expected(ids: dict[str, str], sizes: dict[str, int]) -> dict[tuple[str, str, int], Decimal]:
    """(type, resource, hour of the day) -> quantity."""
    want: dict[tuple[str, str, int], Decimal] = {}

    def hours(kind: str, rid: str, start: int, end: int, gib: Decimal = Decimal(1)) -> None:
        for h in range(start, end):
            want[(kind, rid, h)] = gib

    hours("RUNNING_VM", ids["vm1"], 0, 3)
    hours("RUNNING_VM", ids["vm1"], 5, 20)
    hours("ALLOCATED_VM", ids["vm1"], 0, 20)
    hours("ALLOCATED_VM", ids["vm2"], 0, 9)
    hours("VOLUME", ids["vol"], 0, 20, Decimal(2))
    hours("VOLUME", ids["root1"], 0, 20, Decimal(sizes[ids["root1"]]) / GiB)
    hours("VOLUME", ids["root2"], 0, 9, Decimal(sizes[ids["root2"]]) / GiB)
    return want


async def _records(db: Database, base: datetime) -> dict[tuple[str, str, int], Decimal]:
    async with db.conn() as conn:
        rows = await conn.fetch("SELECT * FROM usage_records WHERE account = $1", ACCOUNT)
    got: dict[tuple[str, str, int], Decimal] = {}
    for r in rows:
        assert r["end_at"] - r["start_at"] == timedelta(hours=1)
        hour = int((r["start_at"] - base).total_seconds() // 3600)
        got[(r["usage_type"], str(r["resource_id"]), hour)] = Decimal(r["quantity"])
    return got


async def _wait_caught_up(db: Database, base: datetime, timeout: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with db.conn() as conn:
            state = await conn.fetchrow("SELECT * FROM usage_state")
            last = await events.last_id(conn)
        until = state["aggregated_until"]
        if until is not None and until >= base + timedelta(days=1) and state["position"] >= last:
            return
        assert asyncio.get_running_loop().time() < deadline, dict(state)
        await asyncio.sleep(0.2)


async def test_a_scripted_day_gives_exact_hours_through_kill9s_and_redelivery(
    platform: Platform,
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_client: Client,
    admin_token: str,
    tmp_path: Path,
) -> None:
    await migrate_dsn(settings.resolved_database_url(), loader.tracks([UsageService()]))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    base = today - timedelta(days=2)
    ids = await _scripted_day(api, db, base)
    async with db.conn() as conn:
        sizes = {
            str(r["id"]): r["size_bytes"]
            for r in await conn.fetch("SELECT id, size_bytes FROM volumes")
        }
    want = _expected(ids, sizes)

    usage = ChildProcess([], {"STRATO_DATABASE_URL": settings.resolved_database_url(),
                              "STRATO_USAGE_POLL_S": "0.2",
                              "STRATO_USAGE_BATCH": "1"}, tmp_path / "usage.log")  # fmt: skip
    usage.args = [sys.executable, "-m", "strato.services.usage.run"]
    async with db.conn() as conn:
        last = await events.last_id(conn)  # numbers them all first
    day = (base, base + timedelta(days=1))
    # Killed -9 twice while reading the events (one per transaction) and twice while
    # aggregating the scripted day (one hour per transaction), each time restarted.
    moments = [
        lambda st: 0 < st["position"] < last,
        lambda st: st["position"] < last,
        lambda st: st["aggregated_until"] is not None and day[0] < st["aggregated_until"] < day[1],
        lambda st: st["aggregated_until"] is not None and st["aggregated_until"] < day[1],
    ]
    seen: list[dict[str, Any]] = []
    try:
        for moment in moments:
            usage.start()
            async with asyncio.timeout(30):
                while True:
                    async with db.conn() as conn:
                        st = dict(await conn.fetchrow("SELECT * FROM usage_state"))
                    if moment(st) and (st["position"] > 0 or st["aggregated_until"]):
                        break
                    await asyncio.sleep(0.002)
            usage.kill9()
            async with db.conn() as conn:
                seen.append(dict(await conn.fetchrow("SELECT * FROM usage_state")))
        usage.start()
        await _wait_caught_up(db, base)
    finally:
        usage.stop()
    assert 0 < seen[0]["position"] < last, seen  # a kill while reading
    inside = [s for s in seen if s["aggregated_until"] and day[0] < s["aggregated_until"] < day[1]]
    assert inside, seen  # a kill while aggregating the day
    got = await _records(db, base)
    assert got == want, sorted(set(got.items()) ^ set(want.items()))
    assert sum(q for (k, r, _), q in got.items() if k == "RUNNING_VM") == 18

    # A redelivery: the position rewound to the start, every event applied again, and
    # the day aggregated again: nothing changes.
    async with db.tx() as conn:
        intervals = await conn.fetchval("SELECT count(*) FROM usage_intervals")
        await conn.execute("UPDATE usage_state SET position = 0, aggregated_until = $1", base)
    usage.start()
    try:
        await _wait_caught_up(db, base)
    finally:
        usage.stop()
    assert await _records(db, base) == want
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM usage_intervals") == intervals

    # Through the API, by account, type and period.
    app = create_app(settings, db=db, temporal=temporal_client, services=[UsageService()])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://strato.test/api/v1",
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as client,
    ):
        params = {
            "account": ACCOUNT,
            "usage_type": "RUNNING_VM",
            "start": (base + timedelta(hours=2)).isoformat(),
            "end": (base + timedelta(hours=6)).isoformat(),
        }
        listed = await ok(await client.get("/usage-records", params=params))
        assert [(r["start_at"][11:16], r["hours"]) for r in listed] == [
            ("02:00", 1.0),
            ("05:00", 1.0),
        ]
        r = await client.get("/usage-records", params={"usage_type": "BOGUS"})
        assert r.status_code == 422, r.text
        r = await client.get("/usage-records", params={**params, "start": params["end"]})
        assert r.status_code == 422 and "before end" in r.text, r.text
