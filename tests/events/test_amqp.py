"""The relay's AMQP sink on a real RabbitMQ: a consumer bound to ``strato.vm.#`` gets
every VM event (routing keys from the type, state changes by the state reached) and
nothing else, in order; the broker killed -9 and started again mid-run loses nothing
the relay had not been confirmed for."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from strato.domain.directory.models import Endpoint, ServiceRegister
from strato.events.amqp import routing_key
from strato.events.relay import Relay
from strato.schema import events, repository
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.schema.tables import ZONES
from strato.settings import Settings
from tests.rabbit import Rabbit, rabbit

__all__ = ["rabbit"]


@pytest.fixture
def settings(settings: Settings, rabbit: Rabbit) -> Settings:
    return settings.model_copy(
        update={"amqp_url": rabbit.url, "amqp_exchange": f"strato.test.{uuid.uuid4().hex[:8]}"}
    )


@contextlib.asynccontextmanager
async def running_relay(db: Database, settings: Settings) -> AsyncIterator[Relay]:
    r = Relay(db, settings, name="amqp-test")
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    try:
        await _positioned(db)
        yield r
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def _positioned(db: Database) -> None:
    """The AMQP sink starts from the newest event when first seen: wait for that."""
    for _ in range(200):
        async with db.conn() as conn:
            if await conn.fetchval("SELECT 1 FROM relay_positions WHERE sink = 'amqp'"):
                return
        await asyncio.sleep(0.05)


async def _vm_queue(settings: Settings) -> tuple[Any, Any]:
    """A durable queue bound to strato.vm.# on the relay's exchange."""
    conn = await aio_pika.connect(settings.amqp_url)
    channel = await conn.channel()
    exchange = await channel.declare_exchange(
        settings.amqp_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(f"vm-{uuid.uuid4().hex[:8]}", durable=True)
    await queue.bind(exchange, "strato.vm.#")
    return conn, queue.name


async def _write(db: Database, n: int, tag: str) -> list[uuid.UUID]:
    """VM events (created, Starting, Running) and zone events, interleaved."""
    vms = []
    for i in range(n):
        vm = uuid.uuid4()
        vms.append(vm)
        async with db.tx() as conn:
            await events.append(conn, "strato.vm.created", "vm", vm, payload={"name": f"v{i}"})
            await repository.insert(conn, ZONES, {"name": f"{tag}-{i}"})
        for old, new in (("Stopped", "Starting"), ("Starting", "Running")):
            async with db.tx() as conn:
                await events.append(
                    conn, "strato.vm.state_changed", "vm", vm, old_state=old, new_state=new
                )
    return vms


async def _drain(settings: Settings, queue_name: str, expect: int) -> list[Any]:
    conn = await aio_pika.connect(settings.amqp_url)
    got: list[Any] = []
    async with conn:
        channel = await conn.channel()
        queue = await channel.get_queue(queue_name)
        for _ in range(600):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                if len({m["id"] for m in got}) >= expect:
                    break
                await asyncio.sleep(0.05)
                continue
            got.append({**json.loads(message.body), "key": message.routing_key})
            assert message.message_id == got[-1]["id"]
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            await message.ack()
    return got


async def _vm_event_ids(db: Database, since: int) -> list[int]:
    async with db.conn() as conn:
        while await conn.fetchval("SELECT count(*) FROM events WHERE id IS NULL"):
            await events.number(conn)
            await asyncio.sleep(0.05)
        rows = await events.list_after(conn, since, 100_000)
    return [e.id for e in rows if e.resource_type == "vm"]


async def _position(db: Database) -> int:
    async with db.conn() as conn:
        value: int = await conn.fetchval("SELECT position FROM relay_positions WHERE sink = 'amqp'")
    return value


async def test_a_vm_consumer_gets_every_vm_event_and_nothing_else(
    db: Database, settings: Settings
) -> None:
    async with running_relay(db, settings) as relay:
        start = await _position(db)
        conn, queue = await _vm_queue(settings)
        await conn.close()
        await _write(db, 5, "a")
        expected = await _vm_event_ids(db, start)
        got = await _drain(settings, queue, len(expected))
    assert [int(m["id"]) for m in got] == expected  # all, in order, nothing else
    assert {m["key"] for m in got} == {
        "strato.vm.created",
        "strato.vm.state.starting",
        "strato.vm.state.running",
    }
    assert all(m["specversion"] == "1.0" and m["subject"].startswith("vm/") for m in got)
    assert relay.sent["amqp"] >= len(expected)


def test_state_changes_are_keyed_by_the_state_reached() -> None:
    from datetime import UTC, datetime

    from strato.domain.models import Event

    def ev(type_: str, new: str | None = None) -> Event:
        return Event(id=1, time=datetime.now(UTC), type=type_, resource_type="vm", new_state=new)

    assert routing_key(ev("strato.vm.state_changed", "Running")) == "strato.vm.state.running"
    assert routing_key(ev("strato.host.state_changed", "PrepareForMaintenance")) == (
        "strato.host.state.prepareformaintenance"
    )
    assert routing_key(ev("strato.vm.created")) == "strato.vm.created"


async def test_a_broker_killed_mid_run_loses_nothing(
    db: Database, settings: Settings, rabbit: Rabbit
) -> None:
    async with running_relay(db, settings):
        start = await _position(db)
        conn, queue = await _vm_queue(settings)
        await conn.close()
        await _write(db, 5, "before")
        await asyncio.sleep(0.5)
        rabbit.kill9()
        await _write(db, 5, "while-down")  # the relay cannot publish these yet
        rabbit.start()
        await rabbit.ready()
        await _write(db, 5, "after")
        expected = await _vm_event_ids(db, start)
        for _ in range(300):  # the relay reconnects and catches up
            if await _position(db) >= max(expected):
                break
            await asyncio.sleep(0.1)
        got = await _drain(settings, queue, len(expected))
    ids = [int(m["id"]) for m in got]
    assert sorted(set(ids)) == expected, sorted(set(expected) - set(ids))
    # Each VM's events in order (a re-published batch may repeat some).
    firsts: dict[str, list[int]] = {}
    for m in got:
        seen = firsts.setdefault(m["subject"], [])
        if int(m["id"]) not in seen:
            seen.append(int(m["id"]))
    assert all(v == sorted(v) for v in firsts.values())


def test_a_batch_goes_in_waves_of_one_event_per_resource() -> None:
    from datetime import UTC, datetime

    from strato.domain.models import Event
    from strato.events.amqp import waves

    a, b = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    batch = [
        Event(id=i, time=now, type="strato.vm.created", resource_type="vm", resource_id=r)
        for i, r in enumerate([a, b, a, b, b, a], start=1)
    ]
    assert [[e.id for e in w] for w in waves(batch)] == [[1, 2], [3, 4], [5, 6]]


async def test_the_relay_finds_its_broker_in_the_directory(
    db: Database, settings: Settings, rabbit: Rabbit
) -> None:
    """No URL configured: no AMQP position until a broker of kind ``amqp`` is registered
    (with no password in its endpoint), then every event after it reaches the broker."""
    found = settings.model_copy(
        update={"amqp_url": "", "amqp_credentials": f"strato:{rabbit.password}"}
    )
    r = Relay(db, found, name="amqp-discovery")
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    try:
        await asyncio.sleep(1.5)
        async with db.conn() as conn:
            assert not await conn.fetchval("SELECT 1 FROM relay_positions WHERE sink = 'amqp'")
        async with db.tx() as conn:
            await registry.register(
                conn,
                ServiceRegister(
                    name=f"amqp@test:{rabbit.port}",
                    kind="amqp",
                    endpoints=[Endpoint(url=f"amqp://127.0.0.1:{rabbit.port}/", protocol="amqp")],
                    check_kind="tcp",
                    check_target=f"127.0.0.1:{rabbit.port}",
                ),
            )
        await _positioned(db)
        start = await _position(db)
        conn, queue = await _vm_queue(settings)
        await conn.close()
        await _write(db, 3, "d")
        expected = await _vm_event_ids(db, start)
        got = await _drain(settings, queue, len(expected))
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert [int(m["id"]) for m in got] == expected
