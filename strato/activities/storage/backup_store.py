"""The template service's backup steps: a backup's images checked by the zone's backup
provider before the backup is recorded BackedUp, and a failed backup's images deleted.
The provider is the one kept for the image store (:class:`ImageStoreBackups` over the
store's SecondaryStorage driver, which the template service keeps per store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.activities.collect import activities_of
from strato.domain.storage.backups import BackupCheckInput, BackupDiscardInput, BackupImage
from strato.domain.storage.payloads import StoreRef
from strato.domain.storage.steps import BACKUP_DISCARD, BACKUP_VERIFY
from strato.drivers.backup.base import BackupIncomplete, BackupProvider
from strato.drivers.registry import load
from strato.drivers.storage.secondary import SecondaryStorage


class BackupStoreActivities:
    def __init__(self, store: Callable[[StoreRef], SecondaryStorage]) -> None:
        self.store = store

    def provider(self, ref: StoreRef) -> BackupProvider:
        provider: BackupProvider = load("backup", "image-store")(self.store(ref))
        return provider

    @activity.defn(name=BACKUP_VERIFY.name)
    async def verify(self, inp: BackupCheckInput) -> list[BackupImage]:
        """Read-only. An image missing or unusable fails the backup for good."""
        try:
            return await self.provider(inp.store).verify(inp.backup_id, inp.images)
        except BackupIncomplete as err:
            raise ApplicationError(
                f"backup {inp.backup_id} is incomplete: {err}",
                type="backup-incomplete",
                non_retryable=True,
            ) from err

    @activity.defn(name=BACKUP_DISCARD.name)
    async def discard(self, inp: BackupDiscardInput) -> None:
        """Idempotent: deleting images that are not there succeeds."""
        await self.provider(inp.store).delete(inp.backup_id, inp.volume_ids)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
