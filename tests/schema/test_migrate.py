from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from strato.schema.migrate import MigrationError, available, migrate, migrate_dsn


async def test_fresh_database_gets_every_migration(empty_dsn: str) -> None:
    applied = await migrate_dsn(empty_dsn)
    assert [m.version for m in applied] == [m.version for m in available()]
    assert await migrate_dsn(empty_dsn) == []  # second run: nothing to do
    conn = await asyncpg.connect(empty_dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    for t in (
        "zones",
        "pods",
        "clusters",
        "hosts",
        "storage_pools",
        "service_offerings",
        "disk_offerings",
        "templates",
        "networks",
        "vms",
        "volumes",
        "nics",
        "ip_addresses",
        "operations",
        "events",
        "api_keys",
        "schema_migrations",
    ):
        assert t in tables


async def test_concurrent_migrators_apply_each_migration_once(empty_dsn: str) -> None:
    results = await asyncio.gather(*(migrate_dsn(empty_dsn) for _ in range(8)))
    flat = sorted(m.version for r in results for m in r)
    assert flat == [m.version for m in available()]
    conn = await asyncpg.connect(empty_dsn)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations")
    finally:
        await conn.close()
    assert len(rows) == len(available())


async def test_two_processes_migrate_one_database_once(empty_dsn: str) -> None:
    env = {**os.environ, "STRATO_DATABASE_URL": empty_dsn}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "strato.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum("up to date" in o for o in outputs) == 1, outputs
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(available())
    finally:
        await conn.close()


async def test_edited_applied_migration_is_refused(empty_dsn: str) -> None:
    await migrate_dsn(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn)
        # The lock was released despite the error: another migrator can proceed.
        assert await conn.fetchval("SELECT pg_try_advisory_lock(0x537472617401)")
    finally:
        await conn.close()
