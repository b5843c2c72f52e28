"""Capacity as the API shows it (sums of the hosts' figures, the pools' claims) and
capacity alerts: raised once over the notification threshold, cleared under it, each
with its event."""

from __future__ import annotations

from typing import Any

import httpx

from strato.commands.capacity import evaluate_alerts
from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok
from tests.workflows.vm_helpers import running_vm, vm_zone


def _one(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [i for i in items if all(i[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


async def test_capacity_sums_hosts_and_shows_pools(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2, memory_mb=2048)
    await running_vm(api, fab)
    zone = fab["zone"]["id"]
    items = (await ok(await api.get("/capacity", params={"zone_id": zone})))["items"]
    async with db.conn() as conn:
        hosts = await conn.fetch("SELECT * FROM hosts WHERE zone_id = $1", zone)
    mem_total = sum(h["memory_total_mb"] for h in hosts)  # overcommit 1, nothing reserved
    cluster = _one(items, scope="cluster", kind="memory")
    assert (cluster["total"], cluster["allocated"], cluster["unit"]) == (mem_total, 2048, "MiB")
    assert cluster["percent"] == round(100 * 2048 / mem_total, 1)
    assert _one(items, scope="zone", kind="cpu")["allocated"] == 1000
    host_mem = [i for i in items if i["scope"] == "host" and i["kind"] == "memory"]
    assert sorted(i["allocated"] for i in host_mem) == [0, 2048]
    pool = _one(items, scope="pool", kind="storage")
    assert pool["total"] == 1 << 40 and pool["allocated"] == 1 << 30  # the root volume
    only = await ok(await api.get("/capacity", params={"zone_id": zone, "scope": "pool"}))
    assert [i["scope"] for i in only["items"]] == ["pool"]
    bad = await api.get("/capacity", params={"scope": "galaxy"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )


async def test_capacity_alerts_are_raised_once_and_cleared(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1, memory_mb=4096)
    await running_vm(api, fab)
    async with db.tx() as conn:  # one host of 8 GiB: the VM holds half of it
        await conn.execute("UPDATE hosts SET memory_total_mb = 8192")
    thresholds = {"cpu": 1.0, "memory": 0.5, "storage": 1.0, "public_ips": 1.0, "vlans": 1.0}
    assert await evaluate_alerts(db, thresholds) == (1, 0)
    assert await evaluate_alerts(db, thresholds) == (0, 0)  # still over: not raised again
    active = (await ok(await api.get("/alerts")))["items"]
    alert = _one(active, kind="capacity-memory")
    assert alert["resource_type"] == "cluster" and alert["name"] == fab["cluster"]["name"]
    assert "50.0% allocated" in alert["detail"] and alert["cleared_at"] is None

    assert await evaluate_alerts(db, {**thresholds, "memory": 0.75}) == (0, 1)
    assert (await ok(await api.get("/alerts")))["items"] == []
    cleared = _one((await ok(await api.get("/alerts", params={"all": True})))["items"])
    assert cleared["cleared_at"] is not None
    async with db.conn() as conn:
        kinds = [
            r["type"]
            for r in await conn.fetch(
                "SELECT type FROM events WHERE type LIKE 'strato.alert.%' ORDER BY seq"
            )
        ]
    assert kinds == ["strato.alert.raised", "strato.alert.cleared"]


async def test_metrics_in_prometheus_text(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    await running_vm(api, fab)
    r = await api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    lines = r.text.splitlines()
    assert "# TYPE strato_operations_total counter" in lines
    assert 'strato_operations_total{kind="vm.deploy",state="succeeded"} 1' in lines
    assert 'strato_hosts{status="Up",resource_state="Enabled"} 2' in lines
    assert 'strato_vms{state="Running"} 1' in lines
    cluster = fab["cluster"]["name"]
    assert f'strato_capacity_allocated{{scope="cluster",name="{cluster}",kind="cpu"}} 1000' in lines
    assert any(line.startswith("strato_metrics_scrape_seconds ") for line in lines)
    nobody = await api.get("/metrics", headers={"Authorization": ""})
    assert nobody.status_code == 401
