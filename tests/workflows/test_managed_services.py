"""Managed services on the simulated fleet: a reconciler keeps desired instances
serving and listed in the directory, replaces one killed behind its back, scales on a
reported metric and back, rolls out a release never below desired - max_unavailable
serving, and deletes everything it made."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from strato.schema.compute.vms import hypervisor_name
from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, unique
from tests.workflows.vm_helpers import vm_zone


def definition(fab: dict[str, Any], **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("web").lower().replace("_", "-"),
        "release": "1.0",
        "zone_id": fab["zone"]["id"],
        "template_id": fab["template"]["id"],
        "service_offering_id": fab["offering"]["id"],
        "network_ids": [fab["network"]["id"]],
        "min_instances": 2,
        "max_instances": 6,
        "desired": 3,
        "health": {"kind": "tcp", "port": 8080, "interval_s": 0.5, "grace_s": 30},
    }
    return body | kw


async def until(what: str, check: Callable[[], Awaitable[Any]], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s (last: {last!r})")


async def status(api: httpx.AsyncClient, svc_id: str) -> dict[str, Any]:
    got: dict[str, Any] = await ok(await api.get(f"/managed-services/{svc_id}/status"))
    return got


def serving(st: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in st["instances"] if i["health"] == "passing" and i["vm_state"] == "Running"]


async def listed(api: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await ok(await api.get("/services", params={"kind": kind}))
    return found


async def settled(api: httpx.AsyncClient, svc_id: str, n: int, release: str = "1.0") -> Any:
    async def check() -> Any:
        st = await status(api, svc_id)
        live = [i for i in st["instances"] if i["health"] != "retiring"]
        good = serving(st)
        if len(live) == len(good) == n and all(i["release"] == release for i in good):
            return st
        return None

    return await until(f"{n} instances of {release} serving", check)


async def test_a_service_is_kept_serving_listed_replaced_and_autoscaled(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=2)
    body = definition(
        fab,
        metrics=["load"],
        autoscale={
            "metric": "custom:load",
            "scale_out_above": 70,
            "scale_in_below": 20,
            "step": 2,
            "cooldown_s": 1,
        },
    )
    svc = await ok(await api.post("/managed-services", json=body), 201)
    st = await settled(api, svc["id"], 3)
    kind = body["name"]
    entries = await until("3 listed", lambda: _listed_n(api, kind, 3))
    addresses = {i["address"] for i in st["instances"]}
    assert all(a and a.startswith("10.20.0.") for a in addresses)
    assert {e["endpoints"][0]["url"] for e in entries} == {f"tcp://{a}:8080" for a in addresses}

    # Kill one instance's VM behind Strato's back (on its simulated host).
    victim = st["instances"][0]["vm_id"]
    vm = await ok(await api.get(f"/vms/{victim}"))
    host = next(h["name"] for h in fab["hosts"] if h["id"] == vm["host_id"])
    await platform.fleet.drivers[host].stop_vm(hypervisor_name(uuid.UUID(victim)), force=True)
    st = await until(
        "the killed instance replaced",
        lambda: _replaced(api, svc["id"], victim, 3),
    )
    await until("3 listed, not the victim", lambda: _listed_n(api, kind, 3, without=victim))
    gone = await ok(await api.get(f"/vms/{victim}"))
    assert gone["state"] in ("Destroyed", "Expunged"), gone

    # The service reports load: 2 steps to its max of 6, then back to its min of 2.
    r = await api.post(f"/managed-services/{svc['id']}/metrics", json={"name": "load", "value": 90})
    assert r.status_code == 204, r.text
    await settled(api, svc["id"], 6)
    assert (await ok(await api.get(f"/managed-services/{svc['id']}")))["desired"] == 6
    await until("6 listed", lambda: _listed_n(api, kind, 6))
    await api.post(f"/managed-services/{svc['id']}/metrics", json={"name": "load", "value": 5})
    await settled(api, svc["id"], 2)
    await until("2 listed", lambda: _listed_n(api, kind, 2))

    async with db.conn() as conn:
        types = [
            r["type"]
            for r in await conn.fetch(
                "SELECT type FROM events WHERE resource_id = $1 ORDER BY id", uuid.UUID(svc["id"])
            )
        ]
    for t in ("created", "instance_added", "instance_healthy", "instance_retired", "scaled"):
        assert f"strato.managed_service.{t}" in types, types
    scaled = [t for t in types if t.endswith(".scaled")]
    assert len(scaled) == 4, scaled  # 3 -> 5 -> 6, 6 -> 4 -> 2


async def _listed_n(
    api: httpx.AsyncClient, kind: str, n: int, without: str | None = None
) -> list[dict[str, Any]] | None:
    found = [e for e in await listed(api, kind) if e["health"] == "passing"]
    if without is not None and any(e["metadata"]["vm_id"] == without for e in found):
        return None
    return found if len(found) == n else None


async def _replaced(api: httpx.AsyncClient, svc_id: str, victim: str, n: int) -> Any:
    st = await status(api, svc_id)
    ids = {i["vm_id"] for i in st["instances"]}
    return st if victim not in ids and len(serving(st)) == n else None


@pytest.mark.parametrize("max_unavailable", [1, 0])
async def test_a_rollout_keeps_the_floor_then_delete_removes_everything(
    api: httpx.AsyncClient, platform: Platform, db: Database, max_unavailable: int
) -> None:
    fab = await vm_zone(api, hosts=2)
    body = definition(fab, strategy={"max_unavailable": max_unavailable})
    svc = await ok(await api.post("/managed-services", json=body), 201)
    await settled(api, svc["id"], 3)
    same = await api.post(f"/managed-services/{svc['id']}/rollout", json={"release": "1.0"})
    assert same.status_code == 409, same.text
    assert "needs a new release" in same.json()["detail"]
    template = await ok(
        await api.post("/templates", json={"name": unique("tpl2"), "size_bytes": 1 << 30}), 201
    )
    rolled = await ok(
        await api.post(
            f"/managed-services/{svc['id']}/rollout",
            json={"release": "2.0", "template_id": template["id"]},
        )
    )
    assert (rolled["release"], rolled["previous_release"]) == ("2.0", "1.0")
    floor = 3 - max_unavailable
    lowest = 3
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        st = await status(api, svc["id"])
        lowest = min(lowest, len(serving(st)))
        live = [i for i in st["instances"] if i["health"] != "retiring"]
        if st["service"]["previous_release"] is None and all(i["release"] == "2.0" for i in live):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError(f"the rollout did not finish: {st}")
    assert lowest >= floor, (lowest, floor)
    st = await settled(api, svc["id"], 3, "2.0")
    for inst in st["instances"]:
        vm = await ok(await api.get(f"/vms/{inst['vm_id']}"))
        assert vm["template_id"] == template["id"]

    # Delete: every instance retired (VMs expunged), the directory empty, the row gone.
    vms = {i["vm_id"] for i in st["instances"]}
    r = await api.delete(f"/managed-services/{svc['id']}")
    assert r.status_code == 202 and r.json()["state"] == "Deleting", r.text

    async def removed() -> bool:
        return (await api.get(f"/managed-services/{svc['id']}")).status_code == 404

    await until("the service removed", removed)
    assert await listed(api, body["name"]) == []
    async with db.conn() as conn:
        states = await conn.fetch(
            "SELECT state FROM vms WHERE owner = $1", f"service:{body['name']}"
        )
        groups = await conn.fetchval("SELECT count(*) FROM affinity_groups")
    assert {s["state"] for s in states} == {"Expunged"}, states
    assert len(states) >= 6 and vms
    assert groups == 0


async def test_bad_definitions_are_refused_and_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    missing = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"min_instances": 4, "max_instances": 3}, 422, "greater than max_instances"),
        ({"template_id": missing}, 422, "template_id"),
        ({"service_offering_id": missing}, 422, "service_offering_id"),
        ({"network_ids": [missing]}, 422, "network_ids"),
        ({"health": {"port": 65536}}, 422, "65535"),
        (
            {"autoscale": {"metric": "custom:qps", "scale_out_above": 5, "scale_in_below": 1}},
            422,
            "does not exist",
        ),
    ]
    for changes, code, says in cases:
        r = await api.post("/managed-services", json=definition(fab, **changes))
        assert r.status_code == code, (changes, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert says in r.text, (says, r.text)
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM managed_services") == 0
        assert await conn.fetchval("SELECT count(*) FROM vms") == 0
    body = definition(fab, metrics=["qps"])
    svc = await ok(await api.post("/managed-services", json=body), 201)
    again = await api.post("/managed-services", json=body)
    assert again.status_code == 409, again.text
    bad_metric = await api.post(
        f"/managed-services/{svc['id']}/metrics", json={"name": "load", "value": 1}
    )
    assert bad_metric.status_code == 422 and "declares no metric 'load'" in bad_metric.text
    bad_scale = await api.post(f"/managed-services/{svc['id']}/scale", json={"desired": 9})
    assert bad_scale.status_code == 422 and "outside [2, 6]" in bad_scale.text
    r = await api.post(f"/managed-services/{svc['id']}/scale", json={"desired": 2})
    assert (await ok(r))["desired"] == 2
    await api.delete(f"/managed-services/{svc['id']}")
