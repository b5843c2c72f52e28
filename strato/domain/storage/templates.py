"""Templates kept by the template service: what its workflows and steps exchange, and the
rules for what a registration may ask (checksums, formats, keys, names)."""

from __future__ import annotations

import re
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.storage.payloads import SnapshotOpInput
from strato.domain.storage.payloads import StoreKey as StoreKey  # re-exported
from strato.domain.storage.payloads import StoreRef as StoreRef  # re-exported

TEMPLATES_QUEUE = "templates"
HASHES = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_BRACED = re.compile(r"^\{([A-Za-z0-9-]+)\}([0-9a-fA-F]+)$")  # CloudStack's {SHA-256}hex


def parse_checksum(value: str) -> tuple[str, str]:
    """``sha256:<hex>``, ``{SHA-256}<hex>`` or a bare hex digest (its length names the
    algorithm) as (algorithm, lowercase hex). ValueError saying what is accepted."""
    text = value.strip()
    algo, digest = "", text
    braced = _BRACED.match(text)
    if braced:
        algo, digest = braced.group(1), braced.group(2)
    elif ":" in text:
        algo, digest = text.split(":", 1)
    algo = algo.lower().replace("-", "")
    if not algo:
        algo = next((a for a, n in HASHES.items() if n == len(digest)), "")
    if (
        algo not in HASHES
        or len(digest) != HASHES[algo]
        or not re.fullmatch(r"[0-9a-fA-F]+", digest)
    ):
        raise ValueError(
            "checksum must be <algorithm>:<hex digest> with algorithm md5, sha1, sha256 or "
            f"sha512 and a digest of its length (got {value!r})"
        )
    return algo, digest.lower()


def template_key(template_id: UUID) -> str:
    """Where a template is kept in an image store."""
    return f"template/{template_id}"


def cache_name(template_id: UUID) -> str:
    """A template's copy on a primary pool."""
    return f"strato-tpl-{template_id}"


class TransferProgress(BaseModel):
    """A transfer's heartbeat: how far it is (a resumed attempt starts from ``done``)."""

    phase: str = "download"
    done: int = 0
    total: int | None = None
    validator: str | None = None  # the server's ETag / Last-Modified for If-Range


class DownloadInput(BaseModel):
    template_id: UUID
    store: StoreRef
    url: str
    format: Literal["qcow2", "raw", "iso"]
    checksum: str | None = None
    max_bytes: int = Field(gt=0)
    convert_raw: bool = True  # a raw image is kept as qcow2 (an ISO stays as it is)
    # An upload: this many bytes are staged in the store already; nothing is fetched.
    uploaded_bytes: int | None = None


class ImageResult(BaseModel):
    """A template published in an image store."""

    path: str
    size_bytes: int
    virtual_size: int
    format: str
    checksum: str | None = None


class RegisterTemplateInput(BaseModel):
    template_id: UUID
    operation_id: UUID
    download: DownloadInput
    queue: str = TEMPLATES_QUEUE  # the template service's


class TemplateResult(BaseModel):
    template_id: UUID
    state: str


class TemplateStoredInput(BaseModel):
    template_id: UUID
    operation_id: UUID
    store_id: UUID
    image: ImageResult


class TemplateFailedInput(BaseModel):
    template_id: UUID
    operation_id: UUID
    error: str
    error_type: str = "template-failed"


class ImportInput(BaseModel):
    """Copy a published template from one store to another (another zone's)."""

    key: str
    source: StoreRef
    target: StoreRef


class CopyTemplateInput(BaseModel):
    template_id: UUID
    operation_id: UUID
    transfer: ImportInput
    queue: str = TEMPLATES_QUEUE  # the template service's


class CachedCopy(BaseModel):
    pool_name: str
    name: str


class DeleteTemplateInput(BaseModel):
    template_id: UUID
    operation_id: UUID
    stores: list[StoreRef]
    caches: list[CachedCopy]
    queue: str = TEMPLATES_QUEUE  # the template service's


class CacheClaimInput(BaseModel):
    template_id: UUID
    pool_id: UUID
    operation_id: UUID


class CacheClaim(BaseModel):
    """What a deploy does about the template's copy on its pool: ``copy`` it (this
    operation holds the claim), use it (``ready``), or ``wait`` for another's copy."""

    action: Literal["copy", "ready", "wait"]
    name: str
    source: str = ""
    size_bytes: int = 0


class PoolCacheInput(BaseModel):
    """The pool step making a template's copy."""

    name: str
    source: str
    size_bytes: int


class CacheDoneInput(BaseModel):
    template_id: UUID
    pool_id: UUID
    operation_id: UUID
    size_bytes: int = 0
    ok: bool = True


class EvictInput(BaseModel):
    template_id: UUID
    pool_id: UUID
    pool_name: str
    name: str
    operation_id: UUID


class PoolExportInput(BaseModel):
    """A pool step: a snapshot of one of its volumes, exported as a standalone image to
    an image store under ``key`` (a backup, or a new template)."""

    volume: str
    snapshot: str
    store: StoreRef
    key: str


def snapshot_key(snapshot_id: UUID) -> str:
    """Where a snapshot's backup is kept in an image store."""
    return f"snapshot/{snapshot_id}"


class SnapshotExportInput(SnapshotOpInput):
    """BackupSnapshot (``template_id`` None) or CreateTemplateFromSnapshot: the snapshot
    exported by its volume's pool to ``store`` under ``key``."""

    store: StoreRef
    key: str
    template_id: UUID | None = None
    queue: str = TEMPLATES_QUEUE  # the template service's
