"""The event relay and its webhook sink, end to end: a real HTTP receiver gets every event
of a workload, signed, in order per resource; failures are retried, then dead-lettered
and redeliverable by hand; a slow endpoint does not hold up another; of two relays one
leads, and the other takes over when it stops, losing nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from strato.events.relay import Relay
from strato.schema import events
from strato.schema.db import Database
from strato.settings import Settings
from tests.events.receiver import Receiver, receiving
from tests.helpers import ok
from tests.workers.agent_helpers import eventually


async def until(check: Any, timeout: float = 30, what: str = "condition") -> Any:
    """:func:`eventually` for a plain (not awaitable) check."""

    async def probe() -> Any:
        return check()

    return await eventually(probe, timeout=timeout, what=what)


SECRET = "relay-test-secret-0123"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_retry_initial_s": 0.05, "webhook_retry_max_s": 0.2})


@contextlib.asynccontextmanager
async def relay(db: Database, settings: Settings, name: str = "r1") -> AsyncIterator[Relay]:
    r = Relay(db, settings, name=name)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    try:
        yield r
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _subscribe(api: httpx.AsyncClient, url: str, **over: Any) -> dict[str, Any]:
    body = {"name": "test", "url": url, "secret": SECRET, "allow_internal": True, **over}
    hook: dict[str, Any] = await ok(await api.post("/webhooks", json=body), 201)
    return hook


async def _workload(api: httpx.AsyncClient, n: int = 4, tag: str = "") -> None:
    """Zones made, renamed and removed, pods in them: events of many resources."""
    for i in range(n):
        zone = await ok(await api.post("/zones", json={"name": f"z{tag}{i}"}), 201)
        pod = await ok(await api.post("/pods", json={"zone_id": zone["id"], "name": "p"}), 201)
        await ok(await api.patch(f"/zones/{zone['id']}", json={"name": f"zone-{tag}{i}"}))
        await ok(await api.patch(f"/pods/{pod['id']}", json={"name": "pod"}))
        if i % 2:
            assert (await api.delete(f"/pods/{pod['id']}")).status_code == 204


async def _all_ids(db: Database) -> list[tuple[int, str | None]]:
    """The events a subscription gets: every one from the first subscription's own
    ``created`` event on (those before it are not its)."""
    async with db.conn() as conn:
        # (another reader, the relay, may be numbering the last ones right now)
        while await conn.fetchval("SELECT count(*) FROM events WHERE id IS NULL"):
            await events.number(conn)
            await asyncio.sleep(0.05)
        rows = await events.list_after(conn, 0, 100_000)
    first = min(e.id for e in rows if e.type == "strato.webhook.created")
    return [(e.id, str(e.resource_id) if e.resource_id else None) for e in rows if e.id >= first]


def _in_order_per_resource(r: Receiver) -> None:
    seen: dict[str | None, list[int]] = {}
    for got in r.got:
        first = seen.setdefault(got.subject, [])
        if got.event_id not in first:
            first.append(got.event_id)
    for subject, ids in seen.items():
        assert ids == sorted(ids), (subject, ids)


async def test_every_event_arrives_signed_and_in_order_per_resource(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    async with receiving(SECRET) as rx, relay(db, settings):
        hook = await _subscribe(api, rx.url)
        await _workload(api)
        expected = await _all_ids(db)
        await until(lambda: len(set(rx.ids())) >= len(expected), timeout=20, what="every event")

        async def all_recorded() -> Any:
            r = await api.get(f"/webhooks/{hook['id']}/deliveries", params={"limit": 1000})
            rows = r.json()
            return rows if {d["state"] for d in rows} == {"delivered"} else None

        delivered = await eventually(all_recorded, what="every delivery recorded")
    assert len(delivered) == len(expected)
    assert sorted(set(rx.ids())) == [i for i, _ in expected]
    assert all(g.signed for g in rx.got)
    _in_order_per_resource(rx)
    subjects = {g.event_id: g.subject for g in rx.got}
    assert all((subjects[i] or "").endswith(str(res)) for i, res in expected if res is not None)


async def test_filters_choose_the_events(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    async with receiving(SECRET) as pods, receiving(SECRET) as one_zone, relay(db, settings):
        zone = await ok(await api.post("/zones", json={"name": "watched"}), 201)
        await _subscribe(api, pods.url, types=["strato.pod.*"])
        await _subscribe(api, one_zone.url, types=["*"], resource_ids=[zone["id"]])
        await _workload(api, 2)
        await ok(await api.patch(f"/zones/{zone['id']}", json={"name": "still-watched"}))
        await until(lambda: len(one_zone.got) >= 1, what="the watched zone's update")
        await until(lambda: len(pods.got) >= 5, what="the pods' events")
        await asyncio.sleep(0.5)  # nothing else comes
    assert {g.type.split(".")[1] for g in pods.got} == {"pod"}
    # (its created event too, if the relay had not taken it when the subscription came)
    assert [g.type for g in one_zone.got][-1:] == ["strato.zone.updated"]
    assert {g.type for g in one_zone.got} <= {"strato.zone.created", "strato.zone.updated"}
    assert {g.subject for g in one_zone.got} == {f"zone/{zone['id']}"}


async def test_failures_are_retried_then_dead_and_redelivered_by_hand(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    async with receiving(SECRET, status=500) as rx, relay(db, settings):
        hook = await _subscribe(api, rx.url, types=["strato.zone.*"], max_attempts=3)
        zone = await ok(await api.post("/zones", json={"name": "doomed"}), 201)

        async def dead() -> Any:
            r = await api.get(f"/webhooks/{hook['id']}/deliveries", params={"state": "dead"})
            return r.json()

        letters = await eventually(dead, timeout=20, what="a dead delivery")
        assert [(d["event_type"], d["attempts"], d["last_status"]) for d in letters] == [
            ("strato.zone.created", 3, 500)
        ]
        assert rx.got == []
        # The endpoint is fixed; an operator sends the dead one again.
        rx.status = 204
        again = await ok(
            await api.post(f"/webhooks/{hook['id']}/deliveries/{letters[0]['id']}/redeliver")
        )
        assert (again["state"], again["attempts"]) == ("pending", 0)
        await until(lambda: len(rx.got) == 1, what="the redelivery")
    assert rx.got[0].subject == f"zone/{zone['id']}" and rx.got[0].signed
    missing = await api.post(f"/webhooks/{hook['id']}/deliveries/999999/redeliver")
    assert missing.status_code == 404


async def test_a_slow_endpoint_does_not_hold_up_another(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    async with (
        receiving(SECRET, delay_s=4.0) as slow,
        receiving(SECRET) as fast,
        relay(db, settings),
    ):
        await _subscribe(api, slow.url, types=["strato.zone.created"])
        await _subscribe(api, fast.url, types=["strato.zone.created"])
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(5):
            await ok(await api.post("/zones", json={"name": f"q{i}"}), 201)
        await until(lambda: len(fast.got) == 5, timeout=10, what="the fast endpoint's")
        took = loop.time() - t0
        assert took < 3.0, took
        assert slow.got == []  # still answering its first ones
        await until(lambda: len(slow.got) == 5, timeout=20, what="the slow endpoint's")


async def test_of_two_relays_one_leads_and_the_other_takes_over(
    api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    async with receiving(SECRET) as rx:
        await _subscribe(api, rx.url)
        first_stop, second_stop = asyncio.Event(), asyncio.Event()
        a, b = Relay(db, settings, name="a"), Relay(db, settings, name="b")
        tasks = [
            asyncio.create_task(a.run(first_stop)),
            asyncio.create_task(b.run(second_stop)),
        ]
        try:
            await until(lambda: a.leading or b.leading, what="a leader")
            await asyncio.sleep(1.0)
            assert [a.leading, b.leading].count(True) == 1
            leader, stop, other = (a, first_stop, b) if a.leading else (b, second_stop, a)
            await _workload(api, 2)
            expected = await _all_ids(db)
            await until(lambda: len(set(rx.ids())) >= len(expected), what="first part")
            assert other.published == 0
            stop.set()  # the leader goes
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await until(lambda: other.leading, timeout=10, what="the other relay leads")
            assert loop.time() - t0 < 5.0
            await _workload(api, 2, "b")
            expected = await _all_ids(db)
            await until(lambda: len(set(rx.ids())) >= len(expected), what="second part")
            assert other.published > 0 and not leader.leading
        finally:
            first_stop.set()
            second_stop.set()
            await asyncio.gather(*tasks)
    assert sorted(set(rx.ids())) == [i for i, _ in expected]
    _in_order_per_resource(rx)
