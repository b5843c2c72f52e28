"""Zones, pods, clusters, storage pools through the REST API, good and bad input."""

from __future__ import annotations

import uuid

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import make_fabric, ok, pool_body, table_counts, unique

PROBLEM = "application/problem+json"


async def test_zone_crud_round_trip(api: httpx.AsyncClient) -> None:
    r = await api.post("/zones", json={"name": "z1", "description": "first"})
    zone = await ok(r, 201)
    assert r.headers["location"] == f"/api/v1/zones/{zone['id']}"
    assert zone["state"] == "Enabled" and zone["version"] == 1
    got = await api.get(f"/zones/{zone['id']}")
    assert (await ok(got))["name"] == "z1" and got.headers["etag"] == '"1"'
    upd = await ok(await api.patch(f"/zones/{zone['id']}", json={"state": "Disabled"}))
    assert upd["state"] == "Disabled" and upd["version"] == 2
    listed = await ok(await api.get("/zones", params={"state": "Disabled"}))
    assert [z["id"] for z in listed["items"]] == [zone["id"]]
    assert (await api.delete(f"/zones/{zone['id']}")).status_code == 204
    assert (await api.get(f"/zones/{zone['id']}")).status_code == 404


async def test_state_change_writes_event(api: httpx.AsyncClient) -> None:
    zone = await ok(await api.post("/zones", json={"name": "ze"}), 201)
    await ok(await api.patch(f"/zones/{zone['id']}", json={"state": "Disabled"}))
    evs = await ok(await api.get("/events", params={"resource_id": zone["id"]}))
    types = [e["type"] for e in evs["items"]]
    assert types == ["strato.zone.created", "strato.zone.updated", "strato.zone.state_changed"]
    assert evs["items"][-1]["data"]["old_state"] == "Enabled"
    assert evs["items"][-1]["data"]["new_state"] == "Disabled"


async def test_if_match_mismatch_is_412_and_changes_nothing(
    api: httpx.AsyncClient, db: Database
) -> None:
    zone = await ok(await api.post("/zones", json={"name": "zm"}), 201)
    before = await table_counts(db)
    r = await api.patch(
        f"/zones/{zone['id']}", json={"description": "x"}, headers={"If-Match": '"7"'}
    )
    assert r.status_code == 412 and r.headers["content-type"] == PROBLEM
    assert await table_counts(db) == before


async def test_cluster_and_pool_derive_their_zone(api: httpx.AsyncClient) -> None:
    fab = await make_fabric(api)
    assert fab["cluster"]["zone_id"] == fab["zone"]["id"]
    pool = await ok(
        await api.post(
            "/storage-pools",
            json=pool_body(fab["cluster"]["id"]),
        ),
        201,
    )
    assert pool["zone_id"] == fab["zone"]["id"] and pool["pod_id"] == fab["pod"]["id"]
    zwide = await ok(
        await api.post(
            "/storage-pools",
            json={
                "name": unique("zpool"),
                "scope": "zone",
                "zone_id": fab["zone"]["id"],
                "driver": "simulator",
                "capacity_bytes": 1,
            },
        ),
        201,
    )
    assert zwide["cluster_id"] is None


async def test_deleting_a_zone_with_hosts_is_refused(api: httpx.AsyncClient, db: Database) -> None:
    fab = await make_fabric(api)
    async with db.tx() as conn:  # a host row, without running the workflow
        await conn.execute(
            "INSERT INTO hosts (id, zone_id, pod_id, cluster_id, name, hypervisor) "
            "VALUES ($1, $2, $3, $4, 'hz', 'simulator')",
            uuid.uuid4(),
            uuid.UUID(fab["zone"]["id"]),
            uuid.UUID(fab["pod"]["id"]),
            uuid.UUID(fab["cluster"]["id"]),
        )
    before = await table_counts(db)
    r = await api.delete(f"/zones/{fab['zone']['id']}")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["type"] == "/problems/in-use" and "still used by" in body["detail"]
    assert await table_counts(db) == before
    # and after removing everything beneath it, the zone can go
    async with db.tx() as conn:
        await conn.execute("DELETE FROM hosts")
    for kind in ("clusters", "pods"):
        key = kind[:-1]
        assert (await api.delete(f"/{kind}/{fab[key]['id']}")).status_code == 204
    assert (await api.delete(f"/zones/{fab['zone']['id']}")).status_code == 204


BAD_CREATES = [
    ("/zones", {"name": ""}, 422),
    ("/zones", {"name": "has space"}, 422),
    ("/zones", {"name": "ok", "network_type": "Weird"}, 422),
    ("/zones", {"name": "ok", "unknown_field": 1}, 422),
    ("/zones", {"name": 42}, 422),
    ("/zones", ["not", "an", "object"], 422),
    ("/pods", {"zone_id": "not-a-uuid", "name": "p"}, 422),
    ("/pods", {"zone_id": str(uuid.uuid4()), "name": "p"}, 422),
    ("/clusters", {"pod_id": str(uuid.uuid4()), "name": "c", "hypervisor": "kvm"}, 422),
    ("/clusters", {"pod_id": str(uuid.uuid4()), "name": "c", "hypervisor": "xen"}, 422),
    (
        "/storage-pools",
        {
            "name": "p",
            "driver": "simulator",
            "capacity_bytes": -1,
            "scope": "zone",
            "zone_id": str(uuid.uuid4()),
        },
        422,
    ),
    ("/storage-pools", {"name": "p", "driver": "simulator", "capacity_bytes": 1}, 422),
    (
        "/storage-pools",
        {
            "name": "p",
            "driver": "simulator",
            "capacity_bytes": 2**70,
            "scope": "zone",
            "zone_id": str(uuid.uuid4()),
        },
        422,
    ),
    ("/hosts", {"cluster_id": str(uuid.uuid4()), "name": "h"}, 422),
    ("/hosts", {"cluster_id": str(uuid.uuid4()), "name": "h", "cpu_reserved_mhz": -5}, 422),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD_CREATES)
async def test_bad_creates_are_problems_and_change_nothing(
    api: httpx.AsyncClient, db: Database, path: str, body: object, status: int
) -> None:
    before = await table_counts(db)
    r = await api.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert (
        problem["status"] == status
        and problem["detail"]
        and problem["type"].startswith("/problems/")
    )
    assert await table_counts(db) == before


async def test_duplicate_name_is_409(api: httpx.AsyncClient, db: Database) -> None:
    await ok(await api.post("/zones", json={"name": "dup"}), 201)
    before = await table_counts(db)
    r = await api.post("/zones", json={"name": "dup"})
    assert r.status_code == 409 and r.json()["type"] == "/problems/name-taken"
    assert "dup" in r.json()["detail"]
    assert await table_counts(db) == before


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for path in (
        "/zones",
        "/pods",
        "/clusters",
        "/hosts",
        "/storage-pools",
        "/service-offerings",
        "/disk-offerings",
        "/templates",
    ):
        for method in ("GET", "DELETE"):
            r = await api.request(method, f"{path}/{missing}")
            assert r.status_code == 404, (method, path, r.text)
            assert r.headers["content-type"] == PROBLEM
        r = await api.patch(f"{path}/{missing}", json={})
        assert r.status_code == 404, (path, r.text)
    assert (await api.get("/zones/not-a-uuid")).status_code == 422
    assert (await api.get("/no-such-route")).status_code == 404


async def test_null_in_patch_is_refused(api: httpx.AsyncClient, db: Database) -> None:
    zone = await ok(await api.post("/zones", json={"name": "zn"}), 201)
    before = await table_counts(db)
    r = await api.patch(f"/zones/{zone['id']}", json={"name": None})
    assert r.status_code == 422 and "cannot be null" in r.json()["detail"]
    assert await table_counts(db) == before


async def test_list_filters_validate_and_paginate(api: httpx.AsyncClient) -> None:
    for i in range(7):
        await ok(await api.post("/zones", json={"name": f"pz{i}"}), 201)
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await ok(await api.get("/zones", params=params))
        names += [z["name"] for z in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == [f"pz{i}" for i in range(7)]
    assert (await api.get("/zones", params={"limit": 0})).status_code == 422
    assert (await api.get("/zones", params={"limit": 501})).status_code == 422
    assert (await api.get("/zones", params={"bogus": 1})).status_code == 422
    assert (await api.get("/zones", params={"cursor": "garbage!"})).status_code == 422
    assert (await api.get("/hosts", params={"status": "Sideways"})).status_code == 422


async def test_oversized_and_deep_bodies_are_bounded(api: httpx.AsyncClient, db: Database) -> None:
    before = await table_counts(db)
    big = {"name": "big", "description": "x" * (2 * 1024 * 1024)}
    r = await api.post("/zones", json=big)
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    deep = "[" * 5000 + "]" * 5000
    r = await api.post("/zones", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested" in r.json()["detail"]
    r = await api.post("/zones", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert await table_counts(db) == before
