"""Host paths an admin may name: template images, kernels and initrds (under the image
roots) and storage pool directories (under the pool roots).

Checked twice. The API checks the path as written (:func:`within`): absolute, no ``.``
or ``..`` segment, no empty segment, under a root; a refusal is a 422 naming the field.
The agent checks it again on the host, after resolving symlinks (``strato/drivers/hostfs.py``),
because only the host knows where a path really leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

DEFAULT_IMAGE_ROOTS = "/var/lib/strato/images"
DEFAULT_POOL_ROOTS = "/var/lib/strato/pools"


class PathRefused(ValueError):
    """A host path outside what this deployment allows; the message says why."""


def parse_roots(value: str, setting: str) -> tuple[str, ...]:
    """``/a:/b`` -> ("/a", "/b"): each absolute, normalized, and not ``/`` itself."""
    roots = tuple(r for r in value.split(":") if r)
    if not roots:
        raise PathRefused(f"{setting} names no directory")
    for r in roots:
        if r == "/" or not _clean(r):
            raise PathRefused(
                f"{setting}: {r!r} must be an absolute, normalized directory other than /"
            )
    return roots


def _clean(path: str) -> bool:
    if not path.startswith("/") or "\x00" in path:
        return False
    parts = path.split("/")[1:]
    if path.endswith("/"):
        parts = parts[:-1]
    return all(p not in ("", ".", "..") for p in parts)


def local_path(url: str) -> str | None:
    """The host path a template or pool URL names (``file:///x`` or ``/x``); None for no
    URL or another scheme (fetched, never opened as a host path)."""
    if url.startswith("file://"):
        return url.removeprefix("file://") or "/"
    if url.startswith("/"):
        return url
    return None


def within(path: str, roots: Sequence[str], what: str, setting: str) -> str:
    """``path`` as written if it is clean and under one of ``roots``; else PathRefused."""
    if not _clean(path):
        raise PathRefused(
            f"{what} {path!r} must be an absolute path without '.', '..' or empty segments"
        )
    p = PurePosixPath(path)
    if not any(p.is_relative_to(r) for r in roots):
        raise PathRefused(
            f"{what} {path} is outside the allowed directories ({':'.join(roots)}); "
            f"the operator sets them with {setting} on the API and on every agent"
        )
    return path


def inside_any(path: str, dirs: Sequence[str]) -> str | None:
    """The first of ``dirs`` that holds ``path``, if any."""
    p = PurePosixPath(path)
    return next((d for d in dirs if p.is_relative_to(d)), None)
