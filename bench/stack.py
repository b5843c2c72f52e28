"""A fresh embedded stack for benchmarks, in one process: PostgreSQL and Temporal from
the wheels, the orchestrator worker and simulated agents, the API over ASGI."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from strato.api.app import create_app
from strato.embedded import postgres, temporal
from strato.schema import api_keys
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.settings import Settings
from strato.temporal import connect
from tests.conftest import Platform, free_port


@dataclass
class Stack:
    settings: Settings
    db: Database
    client: Client
    api: httpx.AsyncClient
    platform: Platform
    temporal_pid: int = 0


@asynccontextmanager
async def embedded_stack(
    pool_size: int = 50, dynamic_config: dict[str, str] | None = None, **overrides: Any
) -> AsyncIterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="strato-bench-"))
    layout = postgres.PgLayout(work / "pg")
    postgres.init(layout)
    pg = postgres.start(layout)
    tport = free_port()
    tproc = temporal.start(
        work / "t.db", work / "t.log", port=tport, ui_port=None, extra=dynamic_config
    )
    try:
        postgres.wait_ready(layout, pg)
        postgres.ensure_database(layout)
        dsn = layout.dsn()
        await migrate_dsn(dsn)
        temporal.wait_port("127.0.0.1", tport, tproc, 30, "Temporal")
        client = await connect(f"127.0.0.1:{tport}", wait_s=30)
        db = await Database.connect(dsn, max_size=pool_size)
        settings = Settings(
            data_dir=work,
            database_url=dsn,
            temporal_address=f"127.0.0.1:{tport}",
            demo_hosts=0,
            **overrides,
        )
        async with db.tx() as conn:
            _, token = await api_keys.create(conn, "bench", "admin")
        app = create_app(settings, db=db, temporal=client)
        platform = Platform(settings, db, client)
        await platform.start()
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://bench/api/v1",
                    timeout=600,
                    headers={"Authorization": f"Bearer {token}"},
                ) as api,
            ):
                yield Stack(settings, db, client, api, platform, tproc.pid)
        finally:
            await platform.stop()
            await db.close()
    finally:
        tproc.terminate()
        pg.send_signal(2)
        tproc.wait(20)
        pg.wait(20)
        shutil.rmtree(work, ignore_errors=True)
