"""Data-service activities of template operations (local activities on the orchestrator):
a template's copies in image stores and on pools, and its state. All idempotent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.storage.steps import (
    TEMPLATE_CACHE_CLAIM,
    TEMPLATE_CACHE_DONE,
    TEMPLATE_EVICT_DONE,
    TEMPLATE_FAILED,
    TEMPLATE_REMOVED,
    TEMPLATE_STORED,
)
from strato.domain.storage.templates import (
    CacheClaim,
    CacheClaimInput,
    CacheDoneInput,
    TemplateFailedInput,
    TemplateStoredInput,
)
from strato.schema.storage import templates


class TemplateRecordsActivities(InTransaction):
    @activity.defn(name=TEMPLATE_STORED.name)
    async def template_stored(self, inp: TemplateStoredInput) -> None:
        await self._tx(lambda c: templates.stored(c, inp))

    @activity.defn(name=TEMPLATE_FAILED.name)
    async def template_failed(self, inp: TemplateFailedInput) -> None:
        await self._tx(lambda c: templates.failed(c, inp))

    @activity.defn(name=TEMPLATE_REMOVED.name)
    async def template_removed(self, inp: TemplateFailedInput) -> None:
        await self._tx(lambda c: templates.removed(c, inp))

    @activity.defn(name=TEMPLATE_CACHE_CLAIM.name)
    async def template_cache_claim(self, inp: CacheClaimInput) -> CacheClaim:
        return await self._tx(lambda c: templates.cache_claim(c, inp))

    @activity.defn(name=TEMPLATE_CACHE_DONE.name)
    async def template_cache_done(self, inp: CacheDoneInput) -> None:
        await self._tx(lambda c: templates.cache_done(c, inp))

    @activity.defn(name=TEMPLATE_EVICT_DONE.name)
    async def template_evict_done(self, inp: CacheDoneInput) -> None:
        await self._tx(lambda c: templates.evict_done(c, inp))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
