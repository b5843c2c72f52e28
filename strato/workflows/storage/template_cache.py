"""A template's copy on a pool, made once: the deploy that claims it copies it there; the
deploys that find it being copied wait for it (polling the claim, with backoff) and clone
from it once it is Ready. A failed copy gives its claim back, so a waiter makes it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.ids import storage_queue
    from strato.domain.storage.steps import (
        CACHE_TEMPLATE,
        TEMPLATE_CACHE_CLAIM,
        TEMPLATE_CACHE_DONE,
    )
    from strato.domain.storage.templates import CacheClaimInput, CacheDoneInput, PoolCacheInput
    from strato.workflows.common import calls
    from strato.workflows.common.policies import (
        HOST_HEARTBEAT,
        HOST_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        SCHEDULE_TO_START,
    )

COPY_TIMEOUT = timedelta(hours=2)


async def ensure_cached(
    template_id: UUID, pool_id: UUID, pool_name: str, operation_id: UUID
) -> str:
    """The name of the template's copy on the pool, once it is there."""
    claim_in = CacheClaimInput(template_id=template_id, pool_id=pool_id, operation_id=operation_id)
    done = CacheDoneInput(template_id=template_id, pool_id=pool_id, operation_id=operation_id)
    give_up = workflow.now() + COPY_TIMEOUT
    pause = 0.5
    while True:
        claim = await calls.local(
            TEMPLATE_CACHE_CLAIM, claim_in, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY
        )
        if claim.action == "ready":
            return claim.name
        if claim.action == "copy":
            spec = PoolCacheInput(name=claim.name, source=claim.source, size_bytes=claim.size_bytes)
            try:
                info = await calls.remote(
                    CACHE_TEMPLATE,
                    spec,
                    queue=storage_queue(pool_name),
                    timeout=COPY_TIMEOUT,
                    retry=HOST_RETRY,
                    reach=SCHEDULE_TO_START,
                    heartbeat=HOST_HEARTBEAT,
                )
            except FailureError:
                await calls.local(
                    TEMPLATE_CACHE_DONE,
                    done.model_copy(update={"ok": False}),
                    timeout=LOCAL_TIMEOUT,
                    retry=LOCAL_RETRY,
                )
                raise
            size = info.allocated_bytes or claim.size_bytes
            await calls.local(
                TEMPLATE_CACHE_DONE,
                done.model_copy(update={"size_bytes": size}),
                timeout=LOCAL_TIMEOUT,
                retry=LOCAL_RETRY,
            )
            return claim.name
        if workflow.now() > give_up:
            raise ApplicationError(
                f"the template's copy on pool {pool_name} was not made within {COPY_TIMEOUT}",
                type="template-cache-timeout",
                non_retryable=True,
            )
        await workflow.sleep(pause)
        pause = min(pause * 1.5, 5.0)
