"""Keeping the services directory true: each process's own presence (registered at
start, a heartbeat every third of its TTL, deregistered when it stops cleanly), and the
keeper that turns silent instances critical, runs the HTTP/TCP checks, and removes
instances critical for too long. The relay's leader runs the keeper (one at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from urllib.parse import urlsplit

import httpx

from strato.domain.directory.models import (
    Endpoint,
    ServiceBeat,
    ServiceInstance,
    ServiceRegister,
)
from strato.domain.errors import NotFound
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.settings import Settings

log = logging.getLogger(__name__)

PROBES = 64  # HTTP/TCP checks in flight at once


def instance(
    settings: Settings, kind: str, *, endpoints: list[Endpoint] | None = None, name: str = ""
) -> ServiceRegister:
    """This process as a directory instance: ``<kind>@<host>/<pid>`` unless named."""
    from strato import __version__

    return ServiceRegister(
        name=name or f"{kind}@{socket.gethostname()}/{os.getpid()}",
        kind=kind,
        version=__version__,
        endpoints=endpoints or [],
        ttl_s=settings.directory_ttl_s,
        deregister_after_s=settings.directory_deregister_after_s,
    )


async def present(db: Database, me: ServiceRegister, stop: asyncio.Event) -> None:
    """Keep ``me`` registered and passing until ``stop``; then deregister."""
    current: ServiceInstance | None = None
    every = max(me.ttl_s / 3, 0.2)
    try:
        while not stop.is_set():
            try:
                async with db.tx() as conn:
                    if current is None:
                        current = await registry.register(conn, me)
                    else:
                        current = await registry.beat(conn, current.id, ServiceBeat())
            except NotFound:
                current = None  # removed meanwhile (silent too long): register again
                continue
            except Exception as err:
                log.warning("directory presence of %s: %s; retrying", me.name, err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        if current is not None:
            with contextlib.suppress(Exception):
                async with db.tx() as conn:
                    await registry.deregister(conn, current.id, "stopped")


async def _probe(i: ServiceInstance, http: httpx.AsyncClient, wait_s: float) -> tuple[str, str]:
    target = i.check_target or ""
    try:
        if i.check_kind == "http":
            r = await http.get(target, timeout=wait_s)
            if 200 <= r.status_code < 300:
                return "passing", f"HTTP {r.status_code}"
            if r.status_code == 429:
                return "warning", "HTTP 429"
            return "critical", f"HTTP {r.status_code}"
        parts = urlsplit(f"//{target}")
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port), wait_s
        )
        writer.close()
        return "passing", f"{target} accepts connections"
    except (OSError, TimeoutError, httpx.HTTPError, ValueError) as err:
        return "critical", f"{target}: {type(err).__name__}: {err}"


async def keep(db: Database, stop: asyncio.Event, every_s: float = 1.0) -> None:
    """The directory's keeper: until ``stop``."""
    slots = asyncio.Semaphore(PROBES)

    async def bounded(i: ServiceInstance) -> tuple[str, str]:
        async with slots:
            return await _probe(i, http, 2.0)

    async with httpx.AsyncClient(follow_redirects=False) as http:
        while not stop.is_set():
            try:
                async with db.tx() as conn:
                    await registry.lapse(conn)
                    await registry.expire(conn)
                async with db.conn() as conn:
                    checked = await registry.to_check(conn)
                results = await asyncio.gather(*(bounded(i) for i in checked))
                for i, (health, detail) in zip(checked, results, strict=True):
                    async with db.tx() as conn:
                        await registry.checked(conn, i.id, health, detail)
            except Exception as err:
                log.warning("directory keeper: %s; retrying", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
