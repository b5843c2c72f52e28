"""The primary-storage contract. Post-conditions and idempotency are stated per method;
``tests/drivers/test_storage_contract.py`` holds every implementation to them.

Errors (what a workflow can branch on)::

    StorageError                  the pool failed; retrying may help
     +-- PoolFull                 no room for the request: permanent for this pool
     +-- VolumeNotFound           no volume of that name: permanent
     +-- SnapshotNotFound         no snapshot of that name on the volume: permanent
     +-- ShrinkRefused            a resize below the current size without shrink_ok
     +-- VolumeBusy               a running guest holds the volume: wait, or stop it
     +-- TemplateUnusable         the template cannot back a volume: permanent
     +-- PoolUnusable             (qcow2) the pool's directory cannot be used: permanent
"""

from __future__ import annotations

import abc
from typing import ClassVar

from strato.domain.storage.specs import PoolFacts, SnapshotInfo, VolumeInfo, VolumeSpec


class StorageError(RuntimeError):
    """The pool failed (a tool, the filesystem); retrying may help."""


class PoolFull(StorageError):
    """The pool cannot hold what was asked."""


class VolumeNotFound(StorageError):
    """No volume of that name on this pool."""


class SnapshotNotFound(StorageError):
    """No snapshot of that name on the volume."""


class ShrinkRefused(StorageError):
    """A resize below the volume's size without ``shrink_ok``: data past the new end
    would be lost."""


class VolumeBusy(StorageError):
    """A running guest has the volume open (its image is locked)."""


class TemplateUnusable(StorageError):
    """The template a volume should be cloned from cannot be used (missing, not cached on
    the pool, a path outside the image roots)."""


class PrimaryStorage(abc.ABC):
    name: str = "abstract"
    # What this implementation can do: "snapshot" (how: "internal" or "none"), "data"
    # (volumes hold real bytes a test can write and read back), "shrink".
    capabilities: ClassVar[dict[str, str | bool]] = {}

    @abc.abstractmethod
    async def pool_facts(self) -> PoolFacts:
        """Capacity and usage as the pool itself reports them."""

    @abc.abstractmethod
    async def create_volume(self, spec: VolumeSpec) -> VolumeInfo:
        """Post-condition: a volume named ``spec.name`` exists (a thin clone of the cached
        template ``spec.template_name``, or of the image ``spec.template_path``, when
        given; TemplateUnusable when that is missing). Idempotent: an existing volume of
        that name is returned as it is."""

    @abc.abstractmethod
    async def cache_template(self, name: str, source: str, size_bytes: int) -> VolumeInfo:
        """Post-condition: a template image ``name`` on this pool, a copy of the published
        image at ``source`` (secondary storage as the host mounts it; ``size_bytes`` long),
        ready to back thin clones (``VolumeSpec.template_name``). Atomic: a half-made
        copy is never under ``name``. Idempotent: an existing ``name`` is returned as it
        is. Raises TemplateUnusable (a source it may not or cannot read) and PoolFull.
        Deleted with :meth:`delete_volume` once no volume is cloned from it."""

    @abc.abstractmethod
    async def import_volume(
        self, name: str, source: str, size_bytes: int, backing: str | None = None
    ) -> VolumeInfo:
        """Post-condition: a volume ``name`` on this pool, a copy of the volume file at
        ``source`` (another pool's, as this host sees it; ``size_bytes`` its virtual
        size) with its internal snapshots. ``backing``: a template cached on this pool
        that the copy is then a thin clone of (the source's template copy has the same
        bytes). Atomic: a half-made copy is never under ``name``. Idempotent: an
        existing ``name`` is returned as it is. Raises PoolFull, TemplateUnusable."""

    @abc.abstractmethod
    async def delete_volume(self, name: str) -> None:
        """Post-condition: no volume named ``name`` (and none of its snapshots). Deleting
        a missing volume succeeds."""

    @abc.abstractmethod
    async def list_volumes(self) -> list[VolumeInfo]:
        """Every volume in the pool."""

    @abc.abstractmethod
    async def volume_info(self, name: str) -> VolumeInfo:
        """One volume of the pool (where its file is). Read-only. Raises VolumeNotFound."""

    @abc.abstractmethod
    async def resize_volume(
        self, name: str, size_bytes: int, *, shrink_ok: bool = False
    ) -> VolumeInfo:
        """Post-condition: the volume's virtual size is ``size_bytes``; its data up to
        the smaller of the two sizes is unchanged. Idempotent: the same size again is a
        no-op. Raises VolumeNotFound, and ShrinkRefused for a smaller size without
        ``shrink_ok``."""

    @abc.abstractmethod
    async def create_snapshot(self, volume: str, snapshot: str) -> SnapshotInfo:
        """Post-condition: a snapshot ``snapshot`` of the volume's current content exists.
        Idempotent: an existing snapshot of that name is returned as it is (not retaken).
        Raises VolumeNotFound."""

    @abc.abstractmethod
    async def export_snapshot(self, volume: str, snapshot: str, dest: str) -> VolumeInfo:
        """Post-condition: a standalone qcow2 (no backing file) of the snapshot's content at
        ``dest``, a path in secondary storage as the host mounts it (a backup, a template);
        the volume and its snapshot are untouched, even while a running guest holds the
        volume. Atomic: written under a hidden name, then renamed. Idempotent: an existing
        ``dest`` is returned as it is. Raises VolumeNotFound, SnapshotNotFound."""

    @abc.abstractmethod
    async def list_snapshots(self, volume: str) -> list[SnapshotInfo]:
        """The volume's snapshots, oldest first. Raises VolumeNotFound."""

    @abc.abstractmethod
    async def revert_snapshot(self, volume: str, snapshot: str) -> None:
        """Post-condition: the volume's content is the snapshot's; the snapshot remains.
        Idempotent (reverting twice is reverting once). Raises VolumeNotFound,
        SnapshotNotFound, and VolumeBusy while a running guest holds the volume."""

    @abc.abstractmethod
    async def delete_snapshot(self, volume: str, snapshot: str) -> None:
        """Post-condition: no snapshot ``snapshot`` on the volume; its content is
        untouched. Deleting a missing snapshot (or one of a missing volume) succeeds."""

    @abc.abstractmethod
    async def copy_snapshot(self, volume: str, snapshot: str, new: str) -> VolumeInfo:
        """Post-condition: a volume ``new`` on this pool, standalone (no backing file),
        holding the snapshot's content at the snapshot's size; the source is untouched.
        Idempotent: an existing volume ``new`` is returned as it is. Raises
        VolumeNotFound, SnapshotNotFound, and PoolFull."""
