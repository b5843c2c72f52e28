"""The template service (``strato service templates``): fetches templates into image
stores, checks them, copies them between zones' stores, deletes them. It polls the
``templates`` queue; it needs the image stores mounted (their directories under
``STRATO_IMAGE_ROOTS``) and never touches the database: the orchestrator records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from temporalio.worker import Worker

from strato.activities.storage.templates import TemplateActivities
from strato.settings import Settings
from strato.temporal import connect_to
from strato.workers.announce import announced, checked_instance
from strato.workers.health import HealthEndpoint

log = logging.getLogger(__name__)


async def run(settings: Settings, stop: asyncio.Event, health_listen: str = "127.0.0.1:0") -> None:
    """Serve the templates queue until ``stop``, in the directory as
    ``template-service@<host>/<pid>`` (checked at its health endpoint)."""
    client = await connect_to(settings, wait_s=30)
    worker = Worker(
        client,
        task_queue=settings.templates_queue,
        activities=TemplateActivities(settings.image_root_list).with_backups(),
        # Transfers are long and mostly wait on the network and the disk.
        max_concurrent_activities=8,
    )
    health = await HealthEndpoint.start(health_listen, {"service": "templates"})
    me = checked_instance(
        settings,
        "template-service",
        f"template-service@{socket.gethostname()}/{os.getpid()}",
        health.url,
        metadata={"queue": settings.templates_queue},
    )
    log.info("template service polling %s", settings.templates_queue)
    try:
        async with worker, announced(client, settings, me):
            await stop.wait()
    finally:
        await health.close()
