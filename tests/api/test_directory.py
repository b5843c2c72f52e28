"""The services directory through the API: instances registered, found by kind,
kept passing by heartbeats or the directory's own HTTP/TCP checks, turned critical when
silent past their TTL and then removed, each change an event; bad registrations
refused with nothing written."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from strato.domain.directory.models import ServiceRegister
from strato.schema.db import Database
from strato.settings import Settings
from strato.workers import directory
from tests.conftest import free_port
from tests.events.receiver import receiving
from tests.helpers import directory_keeper as keeper
from tests.helpers import ok, table_counts
from tests.workers.agent_helpers import eventually


async def _events(db: Database, instance_id: str) -> list[tuple[str, str | None, str | None]]:
    async with db.conn() as conn:
        rows = await conn.fetch(
            """SELECT type, old_state, new_state FROM events
               WHERE resource_type = 'service' AND resource_id = $1 ORDER BY seq""",
            instance_id,
        )
    return [(r["type"], r["old_state"], r["new_state"]) for r in rows]


async def test_instances_register_are_found_by_kind_and_leave(
    api: httpx.AsyncClient, db: Database
) -> None:
    a = await ok(
        await api.post(
            "/services",
            json={
                "name": "billing@a",
                "kind": "billing",
                "version": "1.2",
                "zone": "z1",
                "endpoints": [{"url": "http://10.0.0.5:8000", "protocol": "http"}],
            },
        ),
        201,
    )
    b = await ok(
        await api.post(
            "/services",
            json={
                "name": "billing@b",
                "kind": "billing",
                "endpoints": [{"url": "http://10.0.0.6:8000"}],
            },
        ),
        201,
    )
    assert (a["health"], a["ttl_s"]) == ("passing", 30)
    # b degraded: discovery lists the passing one first
    await ok(
        await api.put(
            f"/services/{b['id']}/heartbeat", json={"health": "warning", "detail": "slow"}
        )
    )
    found = await ok(await api.get("/services/discover", params={"kind": "billing"}))
    assert [e["url"] for e in found] == ["http://10.0.0.5:8000", "http://10.0.0.6:8000"]
    in_zone = await ok(
        await api.get("/services/discover", params={"kind": "billing", "zone": "z1"})
    )
    assert [e["url"] for e in in_zone] == ["http://10.0.0.5:8000"]
    listed = await ok(await api.get("/services", params={"health": "warning"}))
    assert [i["name"] for i in listed] == ["billing@b"]
    # registering again under the same name is the same instance, passing again
    again = await ok(
        await api.post("/services", json={"name": "billing@b", "kind": "billing"}), 201
    )
    assert again["id"] == b["id"] and again["health"] == "passing"
    assert (await api.delete(f"/services/{a['id']}")).status_code == 204
    assert (await api.get(f"/services/{a['id']}")).status_code == 404
    assert await _events(db, a["id"]) == [
        ("strato.service.registered", None, "passing"),
        ("strato.service.deregistered", "passing", None),
    ]
    assert await _events(db, b["id"]) == [
        ("strato.service.registered", None, "passing"),
        ("strato.service.health_changed", "passing", "warning"),
        ("strato.service.health_changed", "warning", "passing"),
    ]


async def test_a_silent_instance_turns_critical_then_is_removed(
    api: httpx.AsyncClient, db: Database
) -> None:
    body = {"name": "worker@x", "kind": "worker", "ttl_s": 1, "deregister_after_s": 1}
    inst = await ok(await api.post("/services", json=body), 201)
    async with keeper(db):

        async def health() -> Any:
            r = await api.get(f"/services/{inst['id']}")
            return r.json()["health"] if r.status_code == 200 else "gone"

        await eventually(lambda: _is(health, "critical"), timeout=10, what="critical")
        await eventually(lambda: _is(health, "gone"), timeout=10, what="removed")
    r = await api.put(f"/services/{inst['id']}/heartbeat", json={})
    assert r.status_code == 404 and "register again" in r.text
    assert [t for t, _, _ in await _events(db, inst["id"])] == [
        "strato.service.registered",
        "strato.service.health_changed",
        "strato.service.deregistered",
    ]


async def _is(probe: Any, value: str) -> bool:
    return bool(await probe() == value)


async def test_the_directory_checks_http_and_tcp_instances(
    api: httpx.AsyncClient, db: Database
) -> None:
    async with receiving("unused-secret-0123456") as web:
        http = await ok(
            await api.post(
                "/services",
                json={
                    "name": "web@1",
                    "kind": "web",
                    "check_kind": "http",
                    "check_target": web.url.replace("/hook", "/health"),
                },
            ),
            201,
        )
        tcp = await ok(
            await api.post(
                "/services",
                json={
                    "name": "db@1",
                    "kind": "db",
                    "check_kind": "tcp",
                    "check_target": f"127.0.0.1:{free_port()}",  # nothing listens
                },
            ),
            201,
        )
        async with keeper(db):

            async def state(i: dict[str, Any]) -> str:
                return str((await api.get(f"/services/{i['id']}")).json()["health"])

            # /health is not a route of the receiver: 404 is critical
            await eventually(lambda: _is(lambda: state(http), "critical"), what="http 404")
            await eventually(lambda: _is(lambda: state(tcp), "critical"), what="tcp refused")
            await ok(
                await api.post(
                    "/services",
                    json={
                        "name": "web@1",
                        "kind": "web",
                        "check_kind": "tcp",
                        "check_target": web.url.split("/")[2],
                    },
                ),
                201,
            )
            await eventually(lambda: _is(lambda: state(http), "passing"), what="tcp accepted")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "x", "kind": "Bad Kind"}, "kind"),
        ({"name": "x", "kind": "k", "check_kind": "http"}, "check_target is needed"),
        ({"name": "x", "kind": "k", "check_kind": "http", "check_target": "ftp://a"}, "http(s)"),
        ({"name": "x", "kind": "k", "check_kind": "tcp", "check_target": "nohost"}, "host:port"),
        ({"name": "x", "kind": "k", "ttl_s": 0}, "ttl_s"),
        ({"name": "", "kind": "k"}, "name"),
    ],
)
async def test_bad_registrations_are_refused(
    api: httpx.AsyncClient, db: Database, body: dict[str, Any], words: str
) -> None:
    before = await table_counts(db)
    r = await api.post("/services", json=body)
    assert r.status_code == 422 and words in r.text, r.text
    assert await table_counts(db) == before


async def test_a_process_keeps_itself_present_and_leaves_when_it_stops(
    db: Database, settings: Settings
) -> None:
    me = ServiceRegister(name="proc@here", kind="proc", ttl_s=1)
    stop = asyncio.Event()
    task = asyncio.create_task(directory.present(db, me, stop))

    async def row() -> Any:
        async with db.conn() as conn:
            return await conn.fetchrow("SELECT * FROM service_instances WHERE name = 'proc@here'")

    first = await eventually(row, what="registered")
    await asyncio.sleep(1.5)  # past its TTL: its heartbeats keep it passing
    later = await row()
    assert later["health"] == "passing" and later["last_seen_at"] > first["last_seen_at"]
    stop.set()
    await task
    assert await row() is None


async def test_a_service_registered_through_the_sdk_is_discovered_by_kind(
    settings: Settings, db: Database, temporal_client: Any, admin_token: str
) -> None:
    from strato.sdk.client import StratoClient
    from tests.api.test_events_stream import _serve_app

    async with _serve_app(settings, db, temporal_client) as (url, _app):
        sdk = StratoClient(url.removesuffix("/api/v1"), admin_token)
        try:
            made = await asyncio.to_thread(
                sdk.register_service,
                "reports@1",
                "reports",
                endpoints=["http://10.9.0.1:9000/"],
                version="0.3",
                ttl_s=5,
            )
            await asyncio.to_thread(sdk.service_heartbeat, made["id"], health="warning")
            found = await asyncio.to_thread(sdk.discover, "reports")
            assert found == [{"url": "http://10.9.0.1:9000/", "protocol": "http"}]
            assert await asyncio.to_thread(sdk.discover, "nothing-of-this-kind") == []
            await asyncio.to_thread(sdk.deregister_service, made["id"])
            assert await asyncio.to_thread(sdk.discover, "reports") == []
        finally:
            sdk.close()
