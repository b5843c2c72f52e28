"""The template service (``strato service templates``): fetches templates into image
stores, checks them, copies them between zones' stores, deletes them. It polls the
``templates`` queue; it needs the image stores mounted (their directories under
``STRATO_IMAGE_ROOTS``) and never touches the database: the orchestrator records.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.worker import Worker

from strato.activities.storage.templates import TemplateActivities
from strato.settings import Settings
from strato.temporal import connect_to

log = logging.getLogger(__name__)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect_to(settings, wait_s=30)
    worker = Worker(
        client,
        task_queue=settings.templates_queue,
        activities=TemplateActivities(settings.image_root_list).with_backups(),
        # Transfers are long and mostly wait on the network and the disk.
        max_concurrent_activities=8,
    )
    log.info("template service polling %s", settings.templates_queue)
    async with worker:
        await stop.wait()
