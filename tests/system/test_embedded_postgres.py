"""The embedded PostgreSQL is Strato's alone: a password on every connection, a socket
only its service user (and root) can reach, an application role that is no superuser,
no parent directory opened to every user; and a cluster an older Strato made (trust
auth, everything the superuser's) is brought to this on start with its data kept."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from strato.drivers.hostfs import can_search
from strato.embedded import acl, postgres
from strato.embedded.proc import child_preexec

pytestmark = pytest.mark.system

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="runs PostgreSQL as strato-pg (root)")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(2)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[postgres.PgLayout]:
    layout = postgres.PgLayout(tmp_path / "deep" / "pg")
    (tmp_path / "deep").mkdir(mode=0o700)
    postgres.init(layout)
    proc = postgres.start(layout, fsync=False)
    try:
        postgres.wait_ready(layout, proc)
        postgres.ensure_database(layout)
        yield layout
    finally:
        _stop(proc)


def _isready_as(user: pwd.struct_passwd, layout: postgres.PgLayout) -> int:
    done = subprocess.run(
        [str(postgres.bin_dir() / "pg_isready"), "-h", str(layout.run), "-q"],
        preexec_fn=child_preexec(user, pdeathsig=False),
        capture_output=True,
    )
    return done.returncode


async def test_every_connection_needs_the_generated_password(
    cluster: postgres.PgLayout,
) -> None:
    assert cluster.credentials.stat().st_mode & 0o777 == 0o600
    for role in (postgres.APP_ROLE, postgres.SUPERUSER):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://{role}@/strato?host={cluster.run}")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://{role}:guess@/strato?host={cluster.run}")
    conn = await asyncpg.connect(cluster.dsn())
    try:
        me = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(me) == (False, False, False)
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'strato'"
        )
        assert owner == postgres.APP_ROLE
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE DATABASE stolen")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")
    finally:
        await conn.close()


@root_only
def test_the_socket_is_closed_to_other_local_users(
    cluster: postgres.PgLayout, tmp_path: Path
) -> None:
    service = pwd.getpwnam(postgres.PG_USER)
    for d in (cluster.root, cluster.run):
        st = d.stat()
        assert (st.st_mode & 0o777, st.st_uid) == (0o700, service.pw_uid)
    assert _isready_as(service, cluster) == 0
    assert _isready_as(pwd.getpwnam("nobody"), cluster) == 2  # no response: cannot reach it
    # The parents were opened to strato-pg alone: nobody may not even enter them.
    deep = tmp_path / "deep"
    assert deep.stat().st_mode & 0o007 == 0
    assert can_search(service, deep) and not can_search(pwd.getpwnam("nobody"), deep)


@root_only
async def test_a_cluster_made_by_an_older_strato_is_secured_with_its_data(
    tmp_path: Path,
) -> None:
    layout = postgres.PgLayout(tmp_path / "pg")
    service = pwd.getpwnam(postgres.PG_USER)
    # What the older code made: trust auth, the database and its tables the superuser's.
    layout.data.mkdir(parents=True)
    layout.run.mkdir()
    acl.open_path_for(service, layout.root)
    for p in (layout.root, layout.data, layout.run):
        os.chown(p, service.pw_uid, service.pw_gid)
    initdb = [str(postgres.bin_dir() / "initdb"), "-D", str(layout.data), "-U", "postgres"]
    subprocess.run(
        [*initdb, "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
        preexec_fn=child_preexec(service, pdeathsig=False),
    )
    proc = postgres.start(layout, fsync=False)
    try:
        deadline = time.monotonic() + 30
        while _isready_as(service, layout) != 0:
            assert time.monotonic() < deadline, "the old cluster did not start"
            await asyncio.sleep(0.1)
        old = f"postgresql://postgres@/postgres?host={layout.run}"
        conn = await asyncpg.connect(old)
        await conn.execute("CREATE DATABASE strato")
        await conn.close()
        conn = await asyncpg.connect(f"postgresql://postgres@/strato?host={layout.run}")
        await conn.execute("CREATE TABLE zones (id serial PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO zones (name) VALUES ('kept')")
        await conn.close()
    finally:
        _stop(proc)

    # The new code starts it as `strato up` does.
    assert postgres.init(layout) is False  # not a new cluster
    proc = postgres.start(layout, fsync=False)
    try:
        postgres.wait_ready(layout, proc)
        postgres.ensure_database(layout)
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(old)
        conn = await asyncpg.connect(layout.dsn())
        try:
            assert await conn.fetchval("SELECT name FROM zones") == "kept"
            await conn.execute("INSERT INTO zones (name) VALUES ('new')")  # owns it now
            owners = await conn.fetch(
                """SELECT pg_get_userbyid(relowner) AS owner FROM pg_class
                   WHERE relname IN ('zones', 'zones_id_seq')"""
            )
            assert [r["owner"] for r in owners] == [postgres.APP_ROLE] * 2
            assert not await conn.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
        finally:
            await conn.close()
    finally:
        _stop(proc)
