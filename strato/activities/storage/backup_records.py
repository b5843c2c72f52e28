"""Data-service activities of VM backups (local activities on the orchestrator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.storage.backups import BackupDoneInput, BackupFiles
from strato.domain.storage.steps import BACKUP_FAILED, BACKUP_FINISHED, BACKUP_REMOVED
from strato.schema.storage import backups


class BackupRecordsActivities(InTransaction):
    @activity.defn(name=BACKUP_FINISHED.name)
    async def backup_finished(self, inp: BackupDoneInput) -> list[BackupFiles]:
        """Idempotent: a retry finds the backup BackedUp and prunes what is still over."""
        return await self._tx(lambda c: backups.finished(c, inp))

    @activity.defn(name=BACKUP_FAILED.name)
    async def backup_failed(self, inp: BackupDoneInput) -> None:
        await self._tx(lambda c: backups.failed(c, inp))

    @activity.defn(name=BACKUP_REMOVED.name)
    async def backup_removed(self, inp: BackupDoneInput) -> None:
        await self._tx(lambda c: backups.removed(c, inp.backup_id, inp.operation_id))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
