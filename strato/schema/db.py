"""Connection pool and transaction helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    return pool


class Database:
    """The pool plus the two ways to use it: a plain connection or one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, max_size: int = 10, wait_s: float = 0.0) -> Database:
        """Open the pool; while PostgreSQL refuses connections (down, starting, recovering
        after a crash) retry for up to ``wait_s``, so a process started during a database
        restart waits for it instead of exiting."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            try:
                return cls(await create_pool(dsn, max_size=max_size))
            except (OSError, asyncpg.CannotConnectNowError):
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(0.25)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def conn(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Any]:
        """One transaction: the state change and its event rows commit together or not at all."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
