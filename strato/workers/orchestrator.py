"""The orchestrator worker: all workflows plus data-service activities, on ``orchestration``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Interceptor, Worker

from strato.activities.registry import data_service
from strato.commands import (
    capacity,
    fleet,
    guest_networks,
    limits,
    operations,
    policies,
    templates,
    view,
)
from strato.commands.backup_schedules import BackupScheduleActivities
from strato.commands.fleet_steps import FleetActivities
from strato.commands.host_ha import HaActivities
from strato.commands.policy_steps import PolicyActivities
from strato.domain.ids import ORCHESTRATION_QUEUE
from strato.schema.db import Database
from strato.services import loader
from strato.services.base import Service
from strato.settings import Settings
from strato.temporal import connect_to, ensure_retention
from strato.workers import directory
from strato.workflows.registry import ALL_WORKFLOWS

log = logging.getLogger(__name__)


def build_worker(
    client: Client,
    db: Database,
    queue: str = ORCHESTRATION_QUEUE,
    interceptors: Sequence[Interceptor] = (),
    services: Sequence[Service] = (),
    max_cached_workflows: int = 1000,
    settings: Settings | None = None,
) -> Worker:
    # Steps that act through the command layer (snapshot policies) need the engine and
    # the settings, not only the database.
    platform = (
        [
            *PolicyActivities(db, client, settings).all(),
            *BackupScheduleActivities(db, client, settings).all(),
            *HaActivities(db, client, settings).all(),
            *FleetActivities(db, client, settings).all(),
        ]
        if settings is not None
        else []
    )
    return Worker(
        client,
        task_queue=queue,
        workflows=[*ALL_WORKFLOWS, *(w for s in services for w in s.workflows())],
        activities=[
            *data_service(db),
            *platform,
            *(a for s in services for a in s.activities(db)),
        ],
        # A workflow task stays open while its local (data) steps wait for one of the 40
        # slots below; with 200 open at once, tasks of 5-10 s timed out under load (and
        # their local steps ran again). Twenty keeps each task short: bench.deploy_throughput
        # went from 9.4 to 11.1 deploys/s at N=200 with no task timeout, and held 10/s at
        # N=1000 (no collapse, no failed deploy).
        max_concurrent_workflow_tasks=20,
        max_concurrent_activities=500,
        # Bounded by the pool: excess data-service steps queue here instead of timing out
        # while waiting for a connection.
        max_concurrent_local_activities=40,
        interceptors=interceptors,
        # Tests set 0: every workflow task then replays its run's whole history.
        max_cached_workflows=max_cached_workflows,
    )


async def sweep_forever(
    db: Database,
    client: Client,
    stop: asyncio.Event,
    every_s: float,
    cache_idle_s: float = 3600.0,
    queue: str = ORCHESTRATION_QUEUE,
    network_idle_s: float = 600.0,
    thresholds: dict[str, float] | None = None,
) -> None:
    rounds = 0
    while not stop.is_set():
        try:
            await operations.sweep_unstarted(db, client)
            await view.record_ended(db, client)
            await policies.reconcile(db, client)
            if rounds % 12 == 0:  # one call per service: about once a minute
                await fleet.ensure_reconcilers(db, client, queue)
            rounds += 1
            await templates.evict_idle(db, client, cache_idle_s, queue)
            await guest_networks.shutdown_idle(db, client, network_idle_s, queue)
            if thresholds is not None:
                await capacity.evaluate_alerts(db, thresholds)
        except Exception:
            log.exception("operation sweep failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def _retention(client: Client, days: int) -> None:
    """Set Temporal's retention explicitly; a server that refuses (a namespace this
    deployment may not change) is logged and served anyway: outcomes live in PostgreSQL."""
    try:
        if await ensure_retention(client, days):
            log.info("namespace %s: retention set to %d days", client.namespace, days)
    except RPCError as err:
        log.warning(
            "namespace %s: could not set its retention to %d days (%s); set it with "
            "`temporal operator namespace update --retention %dd %s`",
            client.namespace,
            days,
            err.message,
            days,
            client.namespace,
        )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    db = await Database.connect(settings.resolved_database_url(), max_size=50, wait_s=60)
    client = await connect_to(settings, wait_s=30, metrics_listen=settings.worker_metrics_listen)
    await _retention(client, settings.temporal_retention_days)
    services = loader.enabled(settings)
    # Its own commands (scheduled snapshots and backups, managed services) count against
    # the same limits as the API's.
    limits.install(next((lim for s in services if (lim := s.limits()) is not None), None))
    worker = build_worker(
        client,
        db,
        settings.orchestration_queue,
        services=services,
        settings=settings,
    )
    sweeper = asyncio.create_task(
        sweep_forever(
            db,
            client,
            stop,
            5.0,
            settings.template_cache_idle_s,
            settings.orchestration_queue,
            settings.network_gc_wait_s,
            settings.capacity_thresholds,
        )
    )
    leaving = asyncio.Event()  # set however this ends (a fatal worker error included)
    presence = (
        asyncio.create_task(
            directory.present(db, directory.instance(settings, "orchestrator"), leaving)
        )
        if settings.directory_register
        else None
    )
    log.info("orchestrator worker polling %s", settings.orchestration_queue)
    try:
        async with worker:
            await stop.wait()
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        leaving.set()
        if presence is not None:
            await presence
        await db.close()
