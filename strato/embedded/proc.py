"""Child-process helpers: drop privileges and die with the parent."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def set_pdeathsig(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no orphans on kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def child_preexec(user: pwd.struct_passwd | None, *, pdeathsig: bool) -> Callable[[], None]:
    def run() -> None:
        if user is not None:
            os.setgid(user.pw_gid)
            os.setgroups([])
            os.setuid(user.pw_uid)
        if pdeathsig:
            # After setuid: a credential change clears the parent-death signal.
            set_pdeathsig(signal.SIGINT)  # SIGINT = fast, clean shutdown for postgres

    return run


def alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (kill -0 succeeds on zombies)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
