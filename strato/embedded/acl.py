"""Letting one system user through a directory, and nobody else.

Under root, the embedded PostgreSQL runs as ``strato-pg`` and must reach its data
directory. Where a parent directory is closed to it (``/root`` is 0700), one POSIX ACL
entry, ``user:strato-pg:--x``, is added to that directory: search permission for that
user alone, merged into the directory's existing ACL. Its mode bits, and so what every
other user may do, stay as they were (the group-class bits then show the ACL's mask, and
the owning group's entry keeps its own permissions). The ACL is written as the kernel's
``system.posix_acl_access`` attribute, so no ``setfacl`` is needed.
"""

from __future__ import annotations

import errno
import os
import pwd
import struct
from pathlib import Path

from strato.drivers.hostfs import can_search

_XATTR = "system.posix_acl_access"
_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_ENTRY = struct.Struct("<HHI")
_SEARCH = 0o1


class AclUnsupported(OSError):
    """The filesystem keeps no POSIX ACLs."""


def _entries(path: Path) -> list[tuple[int, int, int]]:
    try:
        blob = os.getxattr(path, _XATTR)
    except OSError as err:
        if err.errno == errno.ENODATA:
            mode = path.stat().st_mode
            return [
                (_USER_OBJ, (mode >> 6) & 7, _NO_ID),
                (_GROUP_OBJ, (mode >> 3) & 7, _NO_ID),
                (_OTHER, mode & 7, _NO_ID),
            ]
        if err.errno == errno.EOPNOTSUPP:
            raise AclUnsupported(err.errno, f"no POSIX ACLs on the filesystem of {path}") from err
        raise
    (version,) = struct.unpack_from("<I", blob)
    if version != _VERSION:
        raise OSError(errno.EINVAL, f"unknown ACL version {version} on {path}")
    return [_ENTRY.unpack_from(blob, 4 + i * 8) for i in range((len(blob) - 4) // 8)]


def grant_search(path: Path, uid: int) -> None:
    """Add search (x) for user ``uid`` to ``path``'s ACL; nothing else changes."""
    entries = _entries(path)
    by_tag: dict[int, dict[int, int]] = {}
    for tag, perm, qualifier in entries:
        by_tag.setdefault(tag, {})[qualifier] = perm
    users = by_tag.setdefault(_USER, {})
    users[uid] = users.get(uid, 0) | _SEARCH
    groups = by_tag.get(_GROUP, {})
    mask = by_tag[_GROUP_OBJ][_NO_ID]
    for perm in (*users.values(), *groups.values()):
        mask |= perm
    ordered = [(_USER_OBJ, by_tag[_USER_OBJ][_NO_ID], _NO_ID)]
    ordered += [(_USER, users[u], u) for u in sorted(users)]
    ordered += [(_GROUP_OBJ, by_tag[_GROUP_OBJ][_NO_ID], _NO_ID)]
    ordered += [(_GROUP, groups[g], g) for g in sorted(groups)]
    ordered += [(_MASK, mask, _NO_ID), (_OTHER, by_tag[_OTHER][_NO_ID], _NO_ID)]
    blob = struct.pack("<I", _VERSION) + b"".join(_ENTRY.pack(*e) for e in ordered)
    try:
        os.setxattr(path, _XATTR, blob)
    except OSError as err:
        if err.errno == errno.EOPNOTSUPP:
            raise AclUnsupported(err.errno, f"no POSIX ACLs on the filesystem of {path}") from err
        raise


def open_path_for(user: pwd.struct_passwd, path: Path) -> list[Path]:
    """Let ``user`` reach ``path``: each parent it cannot search gets the user's ACL entry.
    Returns the directories changed (none when it could already reach them)."""
    changed: list[Path] = []
    for parent in reversed(path.parents):
        if not can_search(user, parent):
            grant_search(parent, user.pw_uid)
            changed.append(parent)
    return changed
