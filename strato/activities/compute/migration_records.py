"""Data-service steps of MigrateVm: the target's capacity, and the migration's end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.compute.migration import (
    VM_MIGRATION_CLAIM,
    VM_MIGRATION_DONE,
    MigrationClaimInput,
    MigrationDoneInput,
    MigrationPlan,
)
from strato.domain.compute.payloads import VmContext
from strato.schema.compute import migration, vms


class MigrationRecordsActivities(InTransaction):
    @activity.defn(name=VM_MIGRATION_CLAIM.name)
    async def vm_migration_claim(self, inp: MigrationClaimInput) -> MigrationPlan:
        return await self._tx(lambda conn: migration.claim(conn, inp))

    @activity.defn(name=VM_MIGRATION_DONE.name)
    async def vm_migration_done(self, inp: MigrationDoneInput) -> VmContext:
        async def run(conn: Any) -> VmContext:
            await migration.done(conn, inp)
            return await vms.context(conn, inp.vm_id)

        return await self._tx(run)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
