"""Checks on this host's filesystem, where a path really leads (symlinks resolved), for
the agents (:mod:`strato.domain.paths` holds the rules both the API and agents apply to a
path as written), and whether a given user can reach a directory."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Sequence

from strato.domain.paths import PathRefused, inside_any, within


def _real_roots(roots: Sequence[str]) -> list[str]:
    return [os.path.realpath(r) for r in roots]


def _resolved(path: str, roots: Sequence[str], what: str, setting: str) -> str:
    within(path, roots, what, setting)
    real = os.path.realpath(path)
    if inside_any(real, _real_roots(roots)) is None:
        raise PathRefused(
            f"{what} {path} leads to {real}, outside the allowed directories "
            f"({':'.join(roots)}; {setting})"
        )
    return real


def allowed_file(
    path: str,
    *,
    roots: Sequence[str],
    not_in: Sequence[str],
    what: str,
    setting: str,
) -> str:
    """The real path of a file a VM or volume may read: under ``roots`` once resolved, a
    regular file (no device), not inside any of ``not_in`` (pool directories: another
    volume's disk). PathRefused otherwise, saying which rule it broke."""
    real = _resolved(path, roots, what, setting)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise PathRefused(f"{what} {path} does not exist on this host") from None
    if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode):
        raise PathRefused(f"{what} {path} is a device, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise PathRefused(f"{what} {path} is not a regular file")
    holder = inside_any(real, _real_roots(not_in))
    if holder is not None:
        raise PathRefused(f"{what} {path} is inside the pool directories ({holder})")
    return real


def allowed_dir(path: str, *, roots: Sequence[str], what: str, setting: str) -> str:
    """The real path of a pool directory: under ``roots`` once resolved, and a directory
    if it exists. PathRefused otherwise."""
    real = _resolved(path, roots, what, setting)
    if os.path.lexists(real) and not os.path.isdir(real):
        raise PathRefused(f"{what} {path} is not a directory")
    return real


def can_search(user: pwd.struct_passwd, path: str | os.PathLike[str]) -> bool:
    """True if ``user`` can reach and search ``path`` (asked as that user: the kernel
    weighs modes and ACLs alike)."""

    def as_user() -> None:
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    done = subprocess.run(["test", "-x", str(path)], preexec_fn=as_user, capture_output=True)
    return done.returncode == 0
