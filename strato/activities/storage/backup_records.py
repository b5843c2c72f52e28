"""Data-service activities of VM backups (local activities on the orchestrator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.domain.storage.backups import BackupDoneInput, BackupFiles
from strato.domain.storage.steps import BACKUP_FAILED, BACKUP_FINISHED, BACKUP_REMOVED
from strato.schema.db import Database
from strato.schema.storage import backups


class BackupRecordsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=BACKUP_FINISHED.name)
    async def backup_finished(self, inp: BackupDoneInput) -> list[BackupFiles]:
        """Idempotent: a retry finds the backup BackedUp and prunes what is still over."""
        async with self.db.tx() as conn:
            return await backups.finished(conn, inp)

    @activity.defn(name=BACKUP_FAILED.name)
    async def backup_failed(self, inp: BackupDoneInput) -> None:
        async with self.db.tx() as conn:
            await backups.failed(conn, inp)

    @activity.defn(name=BACKUP_REMOVED.name)
    async def backup_removed(self, inp: BackupDoneInput) -> None:
        async with self.db.tx() as conn:
            await backups.removed(conn, inp.backup_id, inp.operation_id)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
