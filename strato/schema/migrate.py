"""Numbered SQL migrations in per-component tracks, applied once under an advisory lock.

The core's track is ``strato/schema/migrations``; each optional service brings its own
(``Track(component=<service>, package=...)``), numbered independently, so a service is
installed, upgraded or left out without touching the core's numbering. Concurrent
starters (two ``strato up`` on one database, several API processes) all call
:func:`migrate`; the session-level advisory lock makes them take turns, and each applies
only what ``schema_migrations`` does not list yet for that component.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg

MIGRATION_LOCK_KEY = 0x5374726174_01  # "Strat" + 1: unique among Strato's advisory locks
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Track:
    """One component's migrations: the package holding its ``NNNN_name.sql`` files."""

    component: str
    package: str


CORE = Track("core", "strato.schema.migrations")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    component: str = "core"

    @property
    def label(self) -> str:
        prefix = "" if self.component == "core" else f"{self.component}:"
        return f"{prefix}{self.version:04d}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def available(track: Track = CORE) -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files(track.package).iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(), track.component))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {track.component}: {versions}")
    return found


async def _ensure_table(conn: Any) -> None:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               component  text NOT NULL DEFAULT 'core',
               version    integer NOT NULL,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now(),
               PRIMARY KEY (component, version))"""
    )
    # A database from before the tracks: its rows are the core's.
    await conn.execute(
        "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS component text NOT NULL"
        " DEFAULT 'core'"
    )
    keyed = await conn.fetchval(
        """SELECT array_length(indkey, 1) FROM pg_index
           WHERE indrelid = 'schema_migrations'::regclass AND indisprimary"""
    )
    if keyed == 1:
        await conn.execute(
            """ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey,
                   ADD PRIMARY KEY (component, version)"""
        )


async def migrate(conn: Any, tracks: Sequence[Track] = (CORE,)) -> list[Migration]:
    """Apply each track's pending migrations, core first; return what this call applied."""
    names = [t.component for t in tracks]
    if len(set(names)) != len(names):
        raise MigrationError(f"two migration tracks share a component name: {names}")
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await _ensure_table(conn)
        rows = await conn.fetch("SELECT component, version, checksum FROM schema_migrations")
        applied = {(r["component"], r["version"]): r["checksum"] for r in rows}
        done: list[Migration] = []
        for track in tracks:
            for mig in available(track):
                key = (mig.component, mig.version)
                if key in applied:
                    if applied[key] != mig.checksum:
                        raise MigrationError(
                            f"migration {mig.label}_{mig.name} was changed after it was "
                            "applied; add a new migration instead of editing an applied one"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(mig.sql)
                    await conn.execute(
                        """INSERT INTO schema_migrations (component, version, name, checksum)
                           VALUES ($1, $2, $3, $4)""",
                        mig.component,
                        mig.version,
                        mig.name,
                        mig.checksum,
                    )
                done.append(mig)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def migrate_dsn(dsn: str, tracks: Sequence[Track] = (CORE,)) -> list[Migration]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, tracks)
    finally:
        await conn.close()
