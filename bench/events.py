"""Events from commit to the outside: a relay process (``strato events relay``) delivers
what a writer commits at a steady offered rate to a webhook receiver and to an AMQP
consumer; prints what arrived per second and the commit-to-delivery latency (p50, p99)
of each, against the target (#15: p99 < 200 ms at 1,000 events/s on this machine).

The writer commits ``--rate`` events a second in transactions of ``--per-tx`` events
(each about its own resource), for ``--seconds``. Latency is the time an event is
received minus its ``time`` (the database clock when it was written, which is this
machine's clock). The receiver and the consumer run in this process; the relay,
PostgreSQL and RabbitMQ in their own.

Run: python -m bench.events [--rate 1000] [--seconds 20] [--per-tx 5] [--no-amqp]
                            [--no-webhook]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from strato.embedded import postgres, rabbitmq
from strato.schema import events, repository
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.schema.webhooks import WEBHOOKS

SECRET = "bench-events-secret-0123"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _latency_ms(doc: dict[str, Any], now: float) -> float:
    return (now - datetime.fromisoformat(doc["time"]).timestamp()) * 1000


class Arrivals:
    def __init__(self) -> None:
        self.latency: dict[int, float] = {}  # first arrival of each event id
        self.duplicates = 0

    def add(self, doc: dict[str, Any]) -> None:
        event_id = int(doc["id"])
        if event_id in self.latency:
            self.duplicates += 1
            return
        self.latency[event_id] = _latency_ms(doc, time.time())

    def line(self, label: str, sent: int, seconds: float) -> str:
        lat = sorted(self.latency.values())
        if not lat:
            return f"{label:<8} nothing arrived"
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        return (
            f"{label:<8} {len(lat)}/{sent} events ({len(lat) / seconds:.0f}/s), "
            f"latency p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lat[-1]:.0f} ms; "
            f"{self.duplicates} duplicates"
        )


async def _until(check: Any, limit_s: float, step_s: float = 0.1) -> None:
    for _ in range(int(limit_s / step_s)):
        if check():
            return
        await asyncio.sleep(step_s)


async def _receiver(port: int, got: Arrivals) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    async def hook(request: Request) -> Response:
        got.add(json.loads(await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    await _until(lambda: server.started, 10, 0.02)
    return server, task


async def _consume(url: str, exchange_name: str, got: Arrivals, stop: asyncio.Event) -> None:
    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(exchange, "strato.#")
        # Acknowledged by the broker as it delivers (no_ack): one ack round trip per
        # message in this process would be the bench's latency, not the relay's.
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                got.add(json.loads(message.body))
                if stop.is_set():
                    break


async def _write(db: Database, rate: float, per_tx: int, seconds: float) -> int:
    """Commit ``rate`` events/s, ``per_tx`` to a transaction; how many were committed."""
    per_s = rate / per_tx
    sent = 0
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        due = t0 + n / per_s
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        async with db.tx() as conn:
            for _ in range(per_tx):
                await events.append(
                    conn, "strato.vm.created", "vm", uuid.uuid4(), payload={"name": "b"}
                )
        sent += per_tx
        n += 1
    return sent


async def main(rate: float, seconds: float, per_tx: int, amqp: bool, hooks: bool = True) -> None:
    work = Path(tempfile.mkdtemp(prefix="strato-bench-events-"))
    layout = postgres.PgLayout(work / "pg")
    postgres.init(layout)
    pg = postgres.start(layout)
    broker = rabbitmq.Rabbit(work / "rabbit") if amqp and rabbitmq.available() else None
    relay: asyncio.subprocess.Process | None = None
    try:
        postgres.wait_ready(layout, pg)
        postgres.ensure_database(layout)
        dsn = layout.dsn()
        await migrate_dsn(dsn)
        if broker is not None:
            broker.start()
            await broker.ready()
        db = await Database.connect(dsn, max_size=8)
        port = _free_port()
        hooked, consumed = Arrivals(), Arrivals()
        server, serving = await _receiver(port, hooked)
        if hooks:
            async with db.tx() as conn:
                await repository.insert(
                    conn,
                    WEBHOOKS,
                    {
                        "name": "bench",
                        "url": f"http://127.0.0.1:{port}/hook",
                        "secret": SECRET,
                        "types": ["*"],
                        "allow_internal": True,
                    },
                )
        exchange = "strato.bench"
        env = {
            **os.environ,
            "STRATO_DATABASE_URL": dsn,
            "STRATO_DATA_DIR": str(work / "data"),
            "STRATO_AMQP_URL": broker.url if broker else "",
            "STRATO_AMQP_EXCHANGE": exchange,
        }
        relay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "strato.cli",
            "events",
            "relay",
            env=env,
            stdout=(work / "relay.log").open("ab"),
            stderr=asyncio.subprocess.STDOUT,
        )
        stop = asyncio.Event()
        consumer = (
            asyncio.create_task(_consume(broker.url, exchange, consumed, stop)) if broker else None
        )
        # The relay has taken the webhook's created event: it is ready.
        if hooks:
            await _until(lambda: bool(hooked.latency), 60)
        if broker is not None:
            await asyncio.sleep(2.0)  # the AMQP sink took its starting position
        hooked.latency.clear()
        consumed.latency.clear()  # the webhook's own creation event, before the run
        sent = await _write(db, rate, per_tx, seconds)
        await _until(
            lambda: (
                (not hooks or len(hooked.latency) >= sent)
                and (broker is None or len(consumed.latency) >= sent)
            ),
            30,
        )
        stop.set()
        print(f"offered {rate:.0f} events/s for {seconds:.0f} s ({per_tx} per transaction)")
        print(hooked.line("webhook", sent, seconds) if hooks else "webhook  (--no-webhook)")
        if broker is not None:
            print(consumed.line("amqp", sent, seconds))
        else:
            print("amqp     (not measured: --no-amqp, or rabbitmq-server not installed)")
        print("target: p99 commit-to-delivery < 200 ms at 1,000 events/s")
        if consumer is not None:
            consumer.cancel()
        server.should_exit = True
        await serving
        await db.close()
    finally:
        if relay is not None:
            relay.send_signal(signal.SIGTERM)
            await asyncio.wait_for(relay.wait(), 20)
        if broker is not None:
            broker.stop()
        pg.send_signal(signal.SIGINT)
        pg.wait(30)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--per-tx", type=int, default=5)
    ap.add_argument("--no-amqp", action="store_true")
    ap.add_argument("--no-webhook", action="store_true")
    a = ap.parse_args()
    asyncio.run(main(a.rate, a.seconds, a.per_tx, not a.no_amqp, not a.no_webhook))
