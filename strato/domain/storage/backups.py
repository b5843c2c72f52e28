"""VM backups: what their workflows and steps exchange."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from strato.domain.storage.payloads import StoreRef, VolumeRef


def backup_key(backup_id: UUID, volume_id: UUID) -> str:
    """Where one volume of a backup is kept in an image store."""
    return f"backup/{backup_id}-{volume_id}"


class BackupVolume(BaseModel):
    """One volume of a VM's backup: where it was taken from, where it is kept."""

    volume_id: UUID
    name: str  # its file's name on its pool
    kind: str
    device_id: int | None = None
    pool: str
    size_bytes: int
    path: str | None = None  # the copy in the image store, once made
    stored_bytes: int = 0


class CreateBackupInput(BaseModel):
    backup_id: UUID
    vm_id: UUID
    operation_id: UUID
    store: StoreRef
    volumes: list[BackupVolume]
    queue: str = "templates"  # the template service's (to prune old backups)
    # A running VM: its host's QEMU takes and deletes each disk's snapshot (the VM's
    # domain name on ``live_host``); the pool exports it, shared with the guest.
    live_host: str | None = None
    hypervisor_name: str | None = None


class BackupImage(BaseModel):
    """One volume's image in a backup provider: its volume's virtual size, and once
    checked what the provider holds (``stored_bytes``, where)."""

    volume_id: UUID
    size_bytes: int
    stored_bytes: int = 0
    path: str | None = None


class BackupCheckInput(BaseModel):
    """A backup's images, to check before it is BackedUp (``backups.verify``)."""

    store: StoreRef
    backup_id: UUID
    images: list[BackupImage]


class BackupDiscardInput(BaseModel):
    """A failed backup's images, to delete (``backups.discard``)."""

    store: StoreRef
    backup_id: UUID
    volume_ids: list[UUID]


class BackupDoneInput(BaseModel):
    backup_id: UUID
    operation_id: UUID
    volumes: list[BackupVolume] = []
    error: str | None = None


class BackupFiles(BaseModel):
    """A backup's copies in its image store, to delete."""

    backup_id: UUID
    store: StoreRef
    keys: list[str]


class DeleteBackupInput(BaseModel):
    operation_id: UUID
    files: BackupFiles
    queue: str = "templates"


class BackupResult(BaseModel):
    backup_id: UUID
    state: str


class ScheduleRef(BaseModel):
    schedule_id: UUID  # the backup schedule's row


class ScheduleFireInput(BaseModel):
    schedule_id: UUID
    firing: str  # the run's workflow id: the Idempotency-Key of its backup


class ScheduleFired(BaseModel):
    workflow_id: str | None = None
    skipped: str | None = None


class RestoreDisk(BaseModel):
    """One volume of a VM restored from a backup: the backup's copy (``source``, in the
    image store) made on ``pool`` under the new volume's name."""

    volume_id: UUID
    name: str
    pool: str
    source: str
    size_bytes: int


class RestoreVolumeInput(VolumeRef):
    """A new volume (Creating, claimed on ``pool``) from one volume of a backup."""

    name: str
    pool: str
    source: str
    size_bytes: int
