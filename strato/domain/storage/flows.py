"""The storage subsystem's workflow types: one per volume, snapshot or template operation."""

from __future__ import annotations

from strato.domain.steps import Flow
from strato.domain.storage.backups import (
    BackupResult,
    CreateBackupInput,
    DeleteBackupInput,
    RestoreVolumeInput,
    ScheduleRef,
)
from strato.domain.storage.payloads import (
    AttachVolumeInput,
    DestroyVolumeInput,
    DetachVolumeInput,
    ExpungeVolumeInput,
    MigrateVolumeInput,
    PolicyRef,
    PolicyRunResult,
    ResizeVolumeInput,
    SnapshotOpInput,
    SnapshotResult,
    VolumeFromSnapshotInput,
    VolumeRef,
    VolumeResult,
)
from strato.domain.storage.templates import (
    CopyTemplateInput,
    DeleteTemplateInput,
    EvictInput,
    RegisterTemplateInput,
    SnapshotExportInput,
    TemplateResult,
)

ATTACH_VOLUME: Flow[AttachVolumeInput, VolumeResult] = Flow(
    "AttachVolume", AttachVolumeInput, VolumeResult
)
DETACH_VOLUME: Flow[DetachVolumeInput, VolumeResult] = Flow(
    "DetachVolume", DetachVolumeInput, VolumeResult
)
RESIZE_VOLUME: Flow[ResizeVolumeInput, VolumeResult] = Flow(
    "ResizeVolume", ResizeVolumeInput, VolumeResult
)
DESTROY_VOLUME: Flow[DestroyVolumeInput, VolumeResult] = Flow(
    "DestroyVolume", DestroyVolumeInput, VolumeResult
)
RECOVER_VOLUME: Flow[VolumeRef, VolumeResult] = Flow("RecoverVolume", VolumeRef, VolumeResult)
EXPUNGE_VOLUME: Flow[ExpungeVolumeInput, VolumeResult] = Flow(
    "ExpungeVolume", ExpungeVolumeInput, VolumeResult
)
CREATE_SNAPSHOT: Flow[SnapshotOpInput, SnapshotResult] = Flow(
    "CreateSnapshot", SnapshotOpInput, SnapshotResult
)
REVERT_SNAPSHOT: Flow[SnapshotOpInput, SnapshotResult] = Flow(
    "RevertSnapshot", SnapshotOpInput, SnapshotResult
)
DELETE_SNAPSHOT: Flow[SnapshotOpInput, SnapshotResult] = Flow(
    "DeleteSnapshot", SnapshotOpInput, SnapshotResult
)
RECURRING_SNAPSHOT: Flow[PolicyRef, PolicyRunResult] = Flow(
    "RecurringSnapshot", PolicyRef, PolicyRunResult
)
VOLUME_FROM_SNAPSHOT: Flow[VolumeFromSnapshotInput, VolumeResult] = Flow(
    "CreateVolumeFromSnapshot", VolumeFromSnapshotInput, VolumeResult
)
REGISTER_TEMPLATE: Flow[RegisterTemplateInput, TemplateResult] = Flow(
    "RegisterTemplate", RegisterTemplateInput, TemplateResult
)
COPY_TEMPLATE: Flow[CopyTemplateInput, TemplateResult] = Flow(
    "CopyTemplate", CopyTemplateInput, TemplateResult
)
DELETE_TEMPLATE: Flow[DeleteTemplateInput, TemplateResult] = Flow(
    "DeleteTemplate", DeleteTemplateInput, TemplateResult
)
EVICT_TEMPLATE: Flow[EvictInput, bool] = Flow("EvictTemplateCache", EvictInput, bool)
BACKUP_SNAPSHOT: Flow[SnapshotExportInput, SnapshotResult] = Flow(
    "BackupSnapshot", SnapshotExportInput, SnapshotResult
)
TEMPLATE_FROM_SNAPSHOT: Flow[SnapshotExportInput, SnapshotResult] = Flow(
    "CreateTemplateFromSnapshot", SnapshotExportInput, SnapshotResult
)
MIGRATE_VOLUME: Flow[MigrateVolumeInput, VolumeResult] = Flow(
    "MigrateVolume", MigrateVolumeInput, VolumeResult
)
CREATE_BACKUP: Flow[CreateBackupInput, BackupResult] = Flow(
    "CreateBackup", CreateBackupInput, BackupResult
)
DELETE_BACKUP: Flow[DeleteBackupInput, BackupResult] = Flow(
    "DeleteBackup", DeleteBackupInput, BackupResult
)
RESTORE_BACKUP_VOLUME: Flow[RestoreVolumeInput, VolumeResult] = Flow(
    "RestoreBackupVolume", RestoreVolumeInput, VolumeResult
)
RECURRING_BACKUP: Flow[ScheduleRef, str] = Flow("RecurringBackup", ScheduleRef, str)
