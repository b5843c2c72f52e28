"""Template operations, each one workflow run holding the template's lock:

- RegisterTemplate: the template service downloads the image into the zone's image store
  (resuming after a crash), verifies and publishes it; the template goes Downloading ->
  Ready, or Error with the reason (what was staged is discarded).
- CopyTemplate: a copy in another zone's image store; the template stays Ready.
- DeleteTemplate: its copies on pools and in stores are removed, then the record.
- EvictTemplateCache: the cache's garbage collection removes one pool copy nobody uses.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.ids import storage_queue
    from strato.domain.progress import StepProgress
    from strato.domain.steps import Step
    from strato.domain.storage import flows
    from strato.domain.storage.steps import (
        DELETE_STORED,
        DELETE_VOLUME,
        DISCARD_STAGED,
        DOWNLOAD_TEMPLATE,
        IMPORT_TEMPLATE,
        TEMPLATE_EVICT_DONE,
        TEMPLATE_FAILED,
        TEMPLATE_REMOVED,
        TEMPLATE_STORED,
    )
    from strato.domain.storage.templates import (
        CacheDoneInput,
        CopyTemplateInput,
        DeleteTemplateInput,
        EvictInput,
        ImageResult,
        RegisterTemplateInput,
        StoreKey,
        TemplateFailedInput,
        TemplateResult,
        TemplateStoredInput,
        template_key,
    )
    from strato.workflows.common import calls
    from strato.workflows.common.failures import error_type, failure_reason
    from strato.workflows.common.guard import Settle, guarded
    from strato.workflows.common.policies import (
        BEST_EFFORT_RETRY,
        HOST_RETRY,
        LOCAL_RETRY,
        LOCAL_TIMEOUT,
        SCHEDULE_TO_START,
        SETTLE_RETRY,
    )
    from strato.workflows.common.progress import Steps

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - a step's input type

# A transfer may take hours; a killed template service is noticed by its heartbeat and
# the attempt retried (resuming) once it is back. Its progress reaches the operation at
# most every 0.8 x the heartbeat timeout (the SDK throttles heartbeats).
TRANSFER_TIMEOUT = timedelta(hours=6)
TRANSFER_HEARTBEAT = timedelta(seconds=6)
TRANSFER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


async def _reasoned(body: Awaitable[T]) -> T:
    """A failed step ends the operation with the step's own reason and type (not the
    wrapper's "activity task failed")."""
    try:
        return await body
    except FailureError as err:
        if isinstance(err, ApplicationError):
            raise
        raise ApplicationError(
            failure_reason(err), type=error_type(err), non_retryable=True
        ) from err


async def _transfer(step: Step[I, ImageResult], arg: I, queue: str) -> ImageResult:
    """A long step of the template service: heartbeating, retried (resuming)."""
    return await calls.remote(
        step,
        arg,
        queue=queue,
        timeout=TRANSFER_TIMEOUT,
        retry=TRANSFER_RETRY,
        heartbeat=TRANSFER_HEARTBEAT,
    )


async def _stored(
    template_id: UUID, operation_id: UUID, store_id: UUID, image: ImageResult
) -> None:
    await calls.local(
        TEMPLATE_STORED,
        TemplateStoredInput(
            template_id=template_id, operation_id=operation_id, store_id=store_id, image=image
        ),
        timeout=LOCAL_TIMEOUT,
        retry=LOCAL_RETRY,
    )


def _settle(template_id: UUID, operation_id: UUID) -> Settle:
    """A failed operation's last step: the template Error (or as it was), unlocked."""

    async def settle(reason: str, kind: str) -> None:
        await calls.local(
            TEMPLATE_FAILED,
            TemplateFailedInput(
                template_id=template_id,
                operation_id=operation_id,
                error=reason,
                error_type=kind,
            ),
            timeout=LOCAL_TIMEOUT,
            retry=SETTLE_RETRY,
        )

    return settle


@workflow.defn(name=flows.REGISTER_TEMPLATE.name)
class RegisterTemplateWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("download", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: RegisterTemplateInput) -> TemplateResult:
        settle = _settle(inp.template_id, inp.operation_id)
        return await guarded(_reasoned(self._run(inp)), settle)

    async def _run(self, inp: RegisterTemplateInput) -> TemplateResult:
        dl = inp.download
        self.steps.enter("download", dl.url)
        try:
            image = await _transfer(DOWNLOAD_TEMPLATE, dl, inp.queue)
        except FailureError:
            # Nothing half-downloaded stays behind (a resumable stage is only kept while
            # an attempt may still use it).
            await calls.remote(
                DISCARD_STAGED,
                StoreKey(store=dl.store, key=template_key(inp.template_id)),
                queue=inp.queue,
                timeout=timedelta(minutes=2),
                retry=BEST_EFFORT_RETRY,
                reach=SCHEDULE_TO_START,
            )
            raise
        self.steps.enter("ready")
        await _stored(inp.template_id, inp.operation_id, dl.store.store_id, image)
        self.steps.finish(f"{image.size_bytes} bytes, virtual size {image.virtual_size}")
        return TemplateResult(template_id=inp.template_id, state="Ready")


@workflow.defn(name=flows.COPY_TEMPLATE.name)
class CopyTemplateWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("copy", "ready")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: CopyTemplateInput) -> TemplateResult:
        settle = _settle(inp.template_id, inp.operation_id)
        return await guarded(_reasoned(self._run(inp)), settle)

    async def _run(self, inp: CopyTemplateInput) -> TemplateResult:
        t = inp.transfer
        self.steps.enter("copy", f"{t.source.name} -> {t.target.name}")
        image = await _transfer(IMPORT_TEMPLATE, t, inp.queue)
        self.steps.enter("ready")
        await _stored(inp.template_id, inp.operation_id, t.target.store_id, image)
        self.steps.finish(f"in {t.target.name}")
        return TemplateResult(template_id=inp.template_id, state="Ready")


@workflow.defn(name=flows.DELETE_TEMPLATE.name)
class DeleteTemplateWorkflow:
    def __init__(self) -> None:
        self.steps = Steps("pool copies", "stored copies", "record")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: DeleteTemplateInput) -> TemplateResult:
        settle = _settle(inp.template_id, inp.operation_id)
        return await guarded(_reasoned(self._run(inp)), settle)

    async def _run(self, inp: DeleteTemplateInput) -> TemplateResult:
        self.steps.enter("pool copies", f"{len(inp.caches)} pool(s)")
        for cached in inp.caches:
            await calls.remote(
                DELETE_VOLUME,
                cached.name,
                queue=storage_queue(cached.pool_name),
                timeout=timedelta(minutes=5),
                retry=HOST_RETRY,
                reach=SCHEDULE_TO_START,
            )
        self.steps.enter("stored copies", f"{len(inp.stores)} store(s)")
        for store in inp.stores:
            await calls.remote(
                DELETE_STORED,
                StoreKey(store=store, key=template_key(inp.template_id)),
                queue=inp.queue,
                timeout=timedelta(minutes=5),
                retry=HOST_RETRY,
                reach=SCHEDULE_TO_START,
            )
        self.steps.enter("record")
        await calls.local(
            TEMPLATE_REMOVED,
            TemplateFailedInput(
                template_id=inp.template_id, operation_id=inp.operation_id, error=""
            ),
            timeout=LOCAL_TIMEOUT,
            retry=LOCAL_RETRY,
        )
        self.steps.finish()
        return TemplateResult(template_id=inp.template_id, state="Deleted")


@workflow.defn(name=flows.EVICT_TEMPLATE.name)
class EvictTemplateCacheWorkflow:
    """The sweep marked the copy Evicting (nothing used it); remove its file, then it."""

    @workflow.run
    async def run(self, inp: EvictInput) -> bool:
        await calls.remote(
            DELETE_VOLUME,
            inp.name,
            queue=storage_queue(inp.pool_name),
            timeout=timedelta(minutes=5),
            retry=HOST_RETRY,
            reach=SCHEDULE_TO_START,
        )
        await calls.local(
            TEMPLATE_EVICT_DONE,
            CacheDoneInput(
                template_id=inp.template_id, pool_id=inp.pool_id, operation_id=inp.operation_id
            ),
            timeout=LOCAL_TIMEOUT,
            retry=LOCAL_RETRY,
        )
        return True
