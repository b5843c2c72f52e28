"""Data-service activities of volume operations: locks, states, attachment, claims.

All idempotent (a retry converges to the same rows) and run as local activities on the
orchestrator worker. Domain errors become non-retryable ApplicationErrors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.activities.storage.backup_records import BackupRecordsActivities
from strato.activities.storage.template_records import TemplateRecordsActivities
from strato.domain.errors import InsufficientCapacity
from strato.domain.storage.payloads import (
    PoolClaim,
    VolumeBeginInput,
    VolumeClaimInput,
    VolumeContext,
    VolumeFailSafeInput,
    VolumeFinishInput,
    VolumeRef,
)
from strato.domain.storage.steps import (
    VOLUME_BEGIN,
    VOLUME_CLAIM_POOL,
    VOLUME_EXPUNGE_BEGIN,
    VOLUME_FAIL_SAFE,
    VOLUME_FINISH,
)
from strato.schema.storage import pools, volumes


class VolumeRecordsActivities(InTransaction):
    @activity.defn(name=VOLUME_BEGIN.name)
    async def volume_begin(self, inp: VolumeBeginInput) -> VolumeContext:
        return await self._tx(lambda c: volumes.begin(c, inp))

    @activity.defn(name=VOLUME_FINISH.name)
    async def volume_finish(self, inp: VolumeFinishInput) -> VolumeContext:
        return await self._tx(lambda c: volumes.finish(c, inp))

    @activity.defn(name=VOLUME_FAIL_SAFE.name)
    async def volume_fail_safe(self, inp: VolumeFailSafeInput) -> bool:
        op = inp.operation_id
        assert op is not None
        return await self._tx(
            lambda c: volumes.fail_safe(c, inp.volume_id, op, inp.error, inp.kind)
        )

    @activity.defn(name=VOLUME_CLAIM_POOL.name)
    async def volume_claim_pool(self, inp: VolumeClaimInput) -> PoolClaim:
        """Room on a pool the VM reaches (its root's first). Idempotent per volume."""

        async def run(conn: Any) -> PoolClaim:
            ctx = await volumes.context(conn, inp.volume_id)
            held = await pools.claim_near(
                conn,
                inp.volume_id,
                host_name=inp.host_name,
                near_pool_name=inp.near_pool_name,
            )
            if held is None:
                raise InsufficientCapacity(
                    f"no primary pool the VM reaches has {ctx.size_bytes} bytes free"
                )
            return PoolClaim(
                pool_id=held[0], pool_name=held[1], volume_name=ctx.name, size_bytes=ctx.size_bytes
            )

        return await self._tx(run)

    @activity.defn(name=VOLUME_EXPUNGE_BEGIN.name)
    async def volume_expunge_begin(self, inp: VolumeRef) -> VolumeContext | None:
        op = inp.operation_id
        assert op is not None
        return await self._tx(lambda c: volumes.begin_expunge(c, inp.volume_id, op))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)


DATA_SERVICE: list[Any] = [
    VolumeRecordsActivities,
    TemplateRecordsActivities,
    BackupRecordsActivities,
]
