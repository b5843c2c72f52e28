"""The AMQP sink: every event to a RabbitMQ topic exchange, persistent, each publish
confirmed by the broker before the relay moves past it.

Routing keys come from the event type (``strato.vm.created``). A state change is keyed
by the state it reached: ``strato.vm.state_changed`` to Running is published as
``strato.vm.state.running``, so a consumer binds ``strato.vm.state.*`` for VM state
changes or ``strato.vm.#`` for everything about VMs. The message is the event's
CloudEvents 1.0 envelope (``content_type`` application/cloudevents+json), its
``message_id`` the event id: after a relay crash a few events may come twice, and a
consumer drops them by it.

A publish that fails (the broker down, a confirm refused) fails the batch and drops
the connection; the relay tries the batch again from its stored position on a fresh
connection, so nothing the broker did not confirm is skipped. (aio-pika's robust
connection is not relied on: after a broker kill -9 its channel could stay closed for
good, every retry refused by the same dead channel.)

With no URL configured the sink finds its broker in the services directory (``locate``):
it is ready once one is registered, and after a failed publish it asks again, so it
follows the broker to another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika

from strato.domain.models import Event
from strato.events.signing import CONTENT_TYPE

_SLUG = re.compile(r"[^a-z0-9]+")


def routing_key(event: Event) -> str:
    if event.type.endswith(".state_changed") and event.new_state:
        state = _SLUG.sub("_", event.new_state.lower()).strip("_")
        return f"{event.type.removesuffix('.state_changed')}.state.{state}"
    return event.type


def waves(batch: list[Event]) -> list[list[Event]]:
    """``batch`` cut, in order, wherever a resource would appear twice in one wave."""
    out: list[list[Event]] = [[]]
    seen: set[object] = set()
    for e in batch:
        if e.resource_id in seen:
            out.append([])
            seen = set()
        out[-1].append(e)
        seen.add(e.resource_id)
    return [w for w in out if w]


class AmqpSink:
    """A sink of the relay: ``publish`` returns once the broker confirmed every event."""

    def __init__(
        self,
        url: str,
        exchange: str,
        *,
        source: str = "/strato",
        locate: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self.name = "amqp"  # its position in relay_positions
        self.url = url
        self.exchange_name = exchange
        self.source = source
        self.locate = locate  # the broker's URL from the directory (None: none there)
        self._connection: Any = None
        self._exchange: Any = None

    async def ready(self) -> bool:
        """Whether there is a broker to publish to (a configured one always is)."""
        if not self.url and self.locate is not None:
            self.url = await self.locate() or ""
        return bool(self.url)

    async def open(self) -> None:
        if self._exchange is not None and not self._connection.is_closed:
            return
        await self.close()
        if not await self.ready():
            raise ConnectionError("no AMQP broker is configured or registered")
        self._connection = await aio_pika.connect(self.url, timeout=10)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def publish(self, batch: list[Event]) -> None:
        """Send the batch in waves, each wave's confirms pipelined (one round trip per
        wave, not per event). A wave holds at most one event per resource, and the next
        wave starts once every confirm of this one came: if a publish fails, no later
        event of its resource was sent, so the retried batch keeps each resource's order
        (only duplicates, never an inversion)."""
        try:
            await self.open()
            await self._send(batch)
        except BaseException:
            await self.close()  # a fresh connection next time
            if self.locate is not None:  # and ask the directory again
                self.url = ""
            raise

    async def _send(self, batch: list[Event]) -> None:
        for wave in waves(batch):
            sends = [
                asyncio.ensure_future(
                    self._exchange.publish(self._message(e), routing_key=routing_key(e), timeout=30)
                )
                for e in wave
            ]
            try:
                await asyncio.gather(*sends)
            except BaseException:
                for s in sends:
                    s.cancel()
                await asyncio.gather(*sends, return_exceptions=True)
                raise

    def _message(self, event: Event) -> Any:
        body = json.dumps(event.cloudevent(self.source), separators=(",", ":")).encode()
        return aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            message_id=str(event.id),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=event.time,
            type=event.type,
            headers={"strato-event-id": event.id},
        )

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
