"""The backup-provider contract (CloudStack's BackupProvider): where a zone's VM backups are
kept, each a set of volume images under the backup's id. ``tests/drivers/
test_backup_contract.py`` holds every implementation to the post-conditions stated here.

The images are written by the pools (each volume's snapshot exported to :meth:`target`,
where the pools' hosts reach the provider's storage); the provider says where, checks what
arrived before a backup is recorded BackedUp, lists what it holds and deletes backups.

Errors::

    BackupError                   the provider failed; retrying may help
     +-- BackupIncomplete         an image of the backup is missing, unreadable, not
                                  standalone or short: permanent for this backup
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar
from uuid import UUID

from strato.domain.storage.backups import BackupImage

__all__ = ["BackupError", "BackupImage", "BackupIncomplete", "BackupProvider"]


class BackupError(RuntimeError):
    """The provider failed (its storage, a tool); retrying may help."""


class BackupIncomplete(BackupError):
    """An image of the backup is not what a restore needs."""


class BackupProvider(abc.ABC):
    name: ClassVar[str] = "abstract"
    # "full": whole copies of each volume; "incremental": copies of what changed since the
    # last backup; "restore_volume" / "restore_vm": what can be restored from a backup.
    capabilities: ClassVar[Mapping[str, bool]] = {}

    @abc.abstractmethod
    def key(self, backup_id: UUID, volume_id: UUID) -> str:
        """The name of one volume's image of a backup in the provider's storage. Pure."""

    @abc.abstractmethod
    def target(self, backup_id: UUID, volume_id: UUID) -> str:
        """Where a pool writes that image (a path its hosts reach). Pure."""

    @abc.abstractmethod
    async def verify(self, backup_id: UUID, images: list[BackupImage]) -> list[BackupImage]:
        """Post-condition: each image of the backup is held, readable, standalone (no
        backing file, no external data file) and at least its volume's virtual size;
        returned with ``stored_bytes`` and ``path``. Raises BackupIncomplete naming the
        first that is not. Read-only, so idempotent."""

    @abc.abstractmethod
    async def delete(self, backup_id: UUID, volume_ids: list[UUID]) -> None:
        """Post-condition: no image of those volumes of the backup is held, nor any part
        of one being written. Idempotent: deleting what is not there succeeds."""

    @abc.abstractmethod
    async def held(self) -> dict[UUID, set[UUID]]:
        """Every backup the provider holds an image of: backup id -> volume ids."""
