"""Backups kept as qcow2 images in a zone's image store (secondary storage), through the
SecondaryStorage contract: a directory store (an NFS export in production), or the
simulated one. Each volume's image is ``backup/<backup id>-<volume id>``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar
from uuid import UUID

from strato.domain.storage.backups import BackupImage, backup_key
from strato.drivers.backup.base import BackupIncomplete, BackupProvider
from strato.drivers.storage.secondary import ImageNotFound, ImageUnreadable, SecondaryStorage

_KEY = re.compile(r"^backup/([0-9a-f-]{36})-([0-9a-f-]{36})$")


class ImageStoreBackups(BackupProvider):
    name: ClassVar[str] = "image-store"
    capabilities: ClassVar[Mapping[str, bool]] = {
        "full": True,
        "incremental": False,
        "restore_volume": True,
        "restore_vm": True,
    }

    def __init__(self, store: SecondaryStorage) -> None:
        self.store = store

    def key(self, backup_id: UUID, volume_id: UUID) -> str:
        return backup_key(backup_id, volume_id)

    def target(self, backup_id: UUID, volume_id: UUID) -> str:
        return self.store.location(self.key(backup_id, volume_id))

    async def verify(self, backup_id: UUID, images: list[BackupImage]) -> list[BackupImage]:
        checked = []
        for image in images:
            key = self.key(backup_id, image.volume_id)
            try:
                stored = await self.store.get(key)
                facts = await self.store.inspect(key, "qcow2")
            except ImageNotFound as err:
                raise BackupIncomplete(f"volume {image.volume_id}: no image {key}") from err
            except ImageUnreadable as err:
                raise BackupIncomplete(f"volume {image.volume_id}: {err}") from err
            if facts.backing_file or facts.data_file:
                raise BackupIncomplete(
                    f"volume {image.volume_id}: {key} is not standalone (it needs "
                    f"{facts.backing_file or facts.data_file})"
                )
            if facts.virtual_size < image.size_bytes:
                raise BackupIncomplete(
                    f"volume {image.volume_id}: {key} is {facts.virtual_size} bytes, short of "
                    f"the volume's {image.size_bytes}"
                )
            checked.append(
                image.model_copy(update={"stored_bytes": stored.size_bytes, "path": stored.path})
            )
        return checked

    async def delete(self, backup_id: UUID, volume_ids: list[UUID]) -> None:
        for volume_id in volume_ids:
            await self.store.delete(self.key(backup_id, volume_id))

    async def held(self) -> dict[UUID, set[UUID]]:
        found: dict[UUID, set[UUID]] = {}
        for image in await self.store.list_images():
            m = _KEY.match(image.key)
            if m:
                found.setdefault(UUID(m.group(1)), set()).add(UUID(m.group(2)))
        return found
