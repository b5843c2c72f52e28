"""The storage subsystem's steps: volume records (data service) and pool calls (per pool)."""

from __future__ import annotations

from strato.domain.compute.payloads import VmRef
from strato.domain.steps import Step
from strato.domain.storage.backups import (
    BackupCheckInput,
    BackupDiscardInput,
    BackupDoneInput,
    BackupFiles,
    BackupImage,
    ScheduleFired,
    ScheduleFireInput,
)
from strato.domain.storage.payloads import (
    ImageEntry,
    PolicyFired,
    PolicyFireInput,
    PolicyRef,
    PoolClaim,
    PoolCopyInput,
    PoolImportInput,
    PoolResizeInput,
    PoolSnapshotInput,
    StoreRef,
    VolumeBeginInput,
    VolumeClaimInput,
    VolumeContext,
    VolumeFailSafeInput,
    VolumeFinishInput,
    VolumeReadyInput,
    VolumeRef,
)
from strato.domain.storage.specs import SnapshotInfo, VolumeInfo, VolumeSpec
from strato.domain.storage.templates import (
    CacheClaim,
    CacheClaimInput,
    CacheDoneInput,
    DownloadInput,
    ImageResult,
    ImportInput,
    PoolCacheInput,
    PoolExportInput,
    StoreKey,
    TemplateFailedInput,
    TemplateStoredInput,
)

# Data service.
VOLUME_READY: Step[VolumeReadyInput, None] = Step("records.volume_ready", VolumeReadyInput, None)
VOLUMES_EXPUNGED: Step[VmRef, None] = Step("records.volumes_expunged", VmRef, None)
VOLUME_BEGIN: Step[VolumeBeginInput, VolumeContext] = Step(
    "records.volume_begin", VolumeBeginInput, VolumeContext
)
VOLUME_FINISH: Step[VolumeFinishInput, VolumeContext] = Step(
    "records.volume_finish", VolumeFinishInput, VolumeContext
)
VOLUME_FAIL_SAFE: Step[VolumeFailSafeInput, bool] = Step(
    "records.volume_fail_safe", VolumeFailSafeInput, bool
)
VOLUME_CLAIM_POOL: Step[VolumeClaimInput, PoolClaim] = Step(
    "records.volume_claim_pool", VolumeClaimInput, PoolClaim
)
# Take the lock of a Destroy volume for its expunge (None: nothing to expunge).
VOLUME_EXPUNGE_BEGIN: Step[VolumeRef, VolumeContext | None] = Step(
    "records.volume_expunge_begin", VolumeRef, VolumeContext | None
)

# The pool's storage queue.
CREATE_VOLUME: Step[VolumeSpec, VolumeInfo] = Step("storage.create_volume", VolumeSpec, VolumeInfo)
DELETE_VOLUME: Step[str, None] = Step("storage.delete_volume", str, None)
LIST_VOLUMES: Step[None, list[VolumeInfo]] = Step("storage.list_volumes", None, list[VolumeInfo])
VOLUME_INFO: Step[str, VolumeInfo] = Step("storage.volume_info", str, VolumeInfo)
RESIZE_VOLUME: Step[PoolResizeInput, VolumeInfo] = Step(
    "storage.resize_volume", PoolResizeInput, VolumeInfo
)
COPY_SNAPSHOT: Step[PoolCopyInput, VolumeInfo] = Step(
    "storage.copy_snapshot", PoolCopyInput, VolumeInfo
)
CREATE_SNAPSHOT: Step[PoolSnapshotInput, SnapshotInfo] = Step(
    "storage.create_snapshot", PoolSnapshotInput, SnapshotInfo
)
REVERT_SNAPSHOT: Step[PoolSnapshotInput, None] = Step(
    "storage.revert_snapshot", PoolSnapshotInput, None
)
DELETE_SNAPSHOT: Step[PoolSnapshotInput, None] = Step(
    "storage.delete_snapshot", PoolSnapshotInput, None
)

# A snapshot policy's runs (orchestration queue; they call commands, so not local).
POLICY_FIRE: Step[PolicyFireInput, PolicyFired] = Step(
    "policies.fire", PolicyFireInput, PolicyFired
)
POLICY_WAIT: Step[str, str] = Step("policies.wait", str, str)
POLICY_PRUNE: Step[PolicyRef, int] = Step("policies.prune", PolicyRef, int)

# Templates: the template service's queue ("templates").
DOWNLOAD_TEMPLATE: Step[DownloadInput, ImageResult] = Step(
    "templates.download", DownloadInput, ImageResult
)
DISCARD_STAGED: Step[StoreKey, None] = Step("templates.discard_staged", StoreKey, None)
DELETE_STORED: Step[StoreKey, None] = Step("templates.delete_stored", StoreKey, None)
LIST_IMAGES: Step[StoreRef, list[ImageEntry]] = Step(
    "templates.list_images", StoreRef, list[ImageEntry]
)
IMPORT_TEMPLATE: Step[ImportInput, ImageResult] = Step("templates.import", ImportInput, ImageResult)
# A snapshot exported to an image store, by the pool holding its volume.
EXPORT_SNAPSHOT: Step[PoolExportInput, ImageResult] = Step(
    "storage.export_snapshot", PoolExportInput, ImageResult
)
# Another pool's volume file copied onto this one (a migration).
IMPORT_VOLUME: Step[PoolImportInput, VolumeInfo] = Step(
    "storage.import_volume", PoolImportInput, VolumeInfo
)
# A template's copy on a pool (the pool's queue).
CACHE_TEMPLATE: Step[PoolCacheInput, VolumeInfo] = Step(
    "storage.cache_template", PoolCacheInput, VolumeInfo
)
# Templates: data service.
TEMPLATE_STORED: Step[TemplateStoredInput, None] = Step(
    "records.template_stored", TemplateStoredInput, None
)
TEMPLATE_FAILED: Step[TemplateFailedInput, None] = Step(
    "records.template_failed", TemplateFailedInput, None
)
TEMPLATE_REMOVED: Step[TemplateFailedInput, None] = Step(
    "records.template_removed", TemplateFailedInput, None
)
TEMPLATE_CACHE_CLAIM: Step[CacheClaimInput, CacheClaim] = Step(
    "records.template_cache_claim", CacheClaimInput, CacheClaim
)
TEMPLATE_CACHE_DONE: Step[CacheDoneInput, None] = Step(
    "records.template_cache_done", CacheDoneInput, None
)
TEMPLATE_EVICT_DONE: Step[CacheDoneInput, None] = Step(
    "records.template_evict_done", CacheDoneInput, None
)
# Backups: data service.
BACKUP_FINISHED: Step[BackupDoneInput, list[BackupFiles]] = Step(
    "records.backup_finished", BackupDoneInput, list[BackupFiles]
)
# A backup's images checked by its provider (the template service), or a failed one's
# deleted.
BACKUP_VERIFY: Step[BackupCheckInput, list[BackupImage]] = Step(
    "backups.verify", BackupCheckInput, list[BackupImage]
)
BACKUP_DISCARD: Step[BackupDiscardInput, None] = Step("backups.discard", BackupDiscardInput, None)
BACKUP_FAILED: Step[BackupDoneInput, None] = Step("records.backup_failed", BackupDoneInput, None)
BACKUP_REMOVED: Step[BackupDoneInput, None] = Step("records.backup_removed", BackupDoneInput, None)
# A backup schedule's runs (orchestration queue; they call commands, so not local).
BACKUP_FIRE: Step[ScheduleFireInput, ScheduleFired] = Step(
    "backup_schedules.fire", ScheduleFireInput, ScheduleFired
)
