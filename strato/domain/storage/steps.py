"""The storage subsystem's steps: volume records (data service) and pool calls (per pool)."""

from __future__ import annotations

from strato.domain.compute.payloads import VmRef
from strato.domain.steps import Step
from strato.domain.storage.payloads import VolumeReadyInput
from strato.domain.storage.specs import VolumeInfo, VolumeSpec

# Data service.
VOLUME_READY: Step[VolumeReadyInput, None] = Step("records.volume_ready", VolumeReadyInput, None)
VOLUMES_EXPUNGED: Step[VmRef, None] = Step("records.volumes_expunged", VmRef, None)

# The pool's storage queue.
CREATE_VOLUME: Step[VolumeSpec, VolumeInfo] = Step("storage.create_volume", VolumeSpec, VolumeInfo)
DELETE_VOLUME: Step[str, None] = Step("storage.delete_volume", str, None)
LIST_VOLUMES: Step[None, list[VolumeInfo]] = Step("storage.list_volumes", None, list[VolumeInfo])
