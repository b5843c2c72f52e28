"""What ``strato up`` runs besides Strato's own processes, in the services directory:
the Temporal server and its web UI, and the private RabbitMQ when it runs one (kind
``amqp``: the event relay discovers its broker so). The directory checks them itself
(TCP or HTTP), so one that dies turns critical; ``strato up`` withdraws them when it
stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from strato.domain.directory.models import Endpoint, ServiceRegister
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.settings import Settings

log = logging.getLogger(__name__)


def _checked(
    s: Settings, kind: str, port: int, url: str, protocol: str, check: str
) -> ServiceRegister:
    target = url if check == "http" else f"127.0.0.1:{port}"
    return ServiceRegister(
        name=f"{kind}@{socket.gethostname()}:{port}",
        kind=kind,
        endpoints=[Endpoint(url=url, protocol=protocol)],
        metadata={"run_by": "strato up"},
        check_kind="tcp" if check == "tcp" else "http",
        check_target=target,
        ttl_s=s.directory_ttl_s,
        deregister_after_s=s.directory_deregister_after_s,
    )


def temporal(s: Settings) -> list[ServiceRegister]:
    """The embedded Temporal server (gRPC) and its web UI."""
    return [
        _checked(s, "temporal", s.temporal_port, f"127.0.0.1:{s.temporal_port}", "grpc", "tcp"),
        _checked(
            s,
            "temporal-ui",
            s.temporal_ui_port,
            s.resolved_temporal_ui_url(),
            "http",
            "http",
        ),
    ]


def broker(s: Settings, port: int) -> ServiceRegister:
    """The private RabbitMQ; its endpoint holds no credentials (the relay has them)."""
    return _checked(s, "amqp", port, f"amqp://127.0.0.1:{port}/", "amqp", "tcp")


async def _apply(dsn: str, enter: list[ServiceRegister], leave: list[str]) -> None:
    db = await Database.connect(dsn, max_size=1)
    try:
        async with db.tx() as conn:
            for me in enter:
                await registry.register(conn, me)
            for name in leave:
                await registry.withdraw(conn, name, "strato up stopped")
    finally:
        await db.close()


def register(s: Settings, instances: list[ServiceRegister]) -> None:
    if s.directory_register and instances:
        asyncio.run(_apply(s.resolved_database_url(), instances, []))


def withdraw(s: Settings, names: list[str]) -> None:
    """Best effort (``strato up`` is stopping; the checks would find them gone anyway)."""
    if not (s.directory_register and names):
        return
    with contextlib.suppress(Exception):
        asyncio.run(asyncio.wait_for(_apply(s.resolved_database_url(), [], names), 10))
