"""The directory presence of a process without database access (the compute and network
agents, the template service): it announces itself through Temporal (a DirectoryAnnounce
run; the orchestrator records) with its health endpoint as the check, so the directory
probes it (no heartbeats from it); it withdraws when it stops cleanly. A process killed
outright fails its check, turns critical and is removed after ``deregister_after_s``.

An agent does not wait for the directory: its announcement retries in the background
until the orchestrator has recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from strato.domain.directory.flows import ANNOUNCE, Announcement
from strato.domain.directory.models import Endpoint, ServiceRegister
from strato.settings import Settings

log = logging.getLogger(__name__)

REANNOUNCE_S = 300.0


def checked_instance(
    settings: Settings,
    kind: str,
    name: str,
    health_url: str,
    *,
    zone: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ServiceRegister:
    """An instance the directory checks over HTTP at its health endpoint."""
    from strato import __version__

    return ServiceRegister(
        name=name,
        kind=kind,
        version=__version__,
        zone=zone,
        endpoints=[Endpoint(url=health_url, protocol="http")],
        metadata=metadata or {},
        check_kind="http",
        check_target=health_url,
        ttl_s=settings.directory_ttl_s,
        deregister_after_s=settings.directory_deregister_after_s,
    )


async def _announce(
    client: Client, settings: Settings, what: Announcement, timeout_s: float
) -> None:
    subject = what.enter.name if what.enter is not None else what.leave
    await client.execute_workflow(
        ANNOUNCE.name,
        what,
        id=f"directory-announce:{subject}:{uuid.uuid4()}",
        task_queue=settings.orchestration_queue,
        execution_timeout=timedelta(seconds=timeout_s),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def _enter(
    client: Client, settings: Settings, me: ServiceRegister, entered: asyncio.Event
) -> None:
    """Announce ``me``, retrying until recorded; then again every ``REANNOUNCE_S``: an
    instance the directory could not reach for long was removed, and comes back so once
    it answers again."""
    pause = 1.0
    while True:
        try:
            await _announce(client, settings, Announcement(enter=me), 60)
            log.info("in the services directory as %s (%s)", me.name, me.kind)
            entered.set()
            pause = 1.0
            await asyncio.sleep(REANNOUNCE_S)
        except Exception as err:
            log.warning("directory announcement of %s: %s; retrying", me.name, err)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


@contextlib.asynccontextmanager
async def announced(
    client: Client, settings: Settings, me: ServiceRegister | None
) -> AsyncIterator[None]:
    """In the directory while inside (nothing when ``me`` is None, or when the
    directory is switched off: ``directory_register``)."""
    if me is None or not settings.directory_register:
        yield
        return
    if me.check_target and urlsplit(me.check_target).hostname in ("127.0.0.1", "::1", "localhost"):
        log.warning(
            "%s's health endpoint %s is a loopback address: only a directory keeper on "
            "this machine can check it (set --health-listen to a reachable address)",
            me.name,
            me.check_target,
        )
    entered = asyncio.Event()
    entering = asyncio.create_task(_enter(client, settings, me, entered))
    try:
        yield
    finally:
        # An announcement under way is let finish, so the leave comes after it.
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(entered.wait(), 5)
        entering.cancel()
        with contextlib.suppress(BaseException):
            await entering
        try:
            await _announce(client, settings, Announcement(leave=me.name), 10)
        except Exception as err:
            log.warning("could not leave the services directory (%s): %s", me.name, err)
