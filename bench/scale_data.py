"""A PostgreSQL with a large cloud in it, for the scale benchmarks.

One zone, ten clusters, ``hosts`` simulated hosts (Up, Enabled), ``vms`` VMs spread over
them in every state (60% Running with a capacity claim), two volumes per VM, 1,000
owners. Generated in SQL (seconds, not minutes); counters equal the sum of the claims.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

from strato.embedded import postgres
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn

POPULATE = """
SELECT setseed(0.42);
INSERT INTO zones (id, name) VALUES ('{zone}', 'scale');
INSERT INTO pods (id, zone_id, name) VALUES ('{pod}', '{zone}', 'p1');
INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor)
    SELECT gen_random_uuid(), '{zone}', '{pod}', 'c' || i, 'simulator'
    FROM generate_series(0, 9) i;
CREATE TEMP TABLE cl AS SELECT row_number() OVER (ORDER BY name) - 1 AS n, id FROM clusters;
INSERT INTO hosts (id, zone_id, pod_id, cluster_id, name, hypervisor, status, cpu_sockets,
                   cpu_cores, cpu_speed_mhz, memory_total_mb)
    SELECT gen_random_uuid(), '{zone}', '{pod}', cl.id, 'sh' || i, 'simulator', 'Up', 1, 32,
           2400, 131072
    FROM generate_series(0, {hosts} - 1) i JOIN cl ON cl.n = i % 10;
INSERT INTO service_offerings (id, name, cpu_count, cpu_speed_mhz, memory_mb)
    VALUES ('{offering}', 'small', 1, 1000, 1024);
INSERT INTO templates (id, name, size_bytes) VALUES ('{template}', 'tiny', 1073741824);
INSERT INTO storage_pools (id, zone_id, name, scope, driver, capacity_bytes)
    VALUES ('{pool}', '{zone}', 'scale-pool', 'zone', 'simulator', 1125899906842624);
CREATE TEMP TABLE hs AS SELECT row_number() OVER (ORDER BY name) - 1 AS n, id FROM hosts;
INSERT INTO vms (id, name, zone_id, host_id, last_host_id, service_offering_id, template_id,
                 owner, cpu_count, cpu_speed_mhz, memory_mb, state, created_at, updated_at)
    SELECT gen_random_uuid(), 'vm' || g.i, '{zone}',
           CASE WHEN g.s = 'Running' THEN hs.id END, hs.id, '{offering}', '{template}',
           'user' || (g.i % 1000), 1, 1000, 1024, g.s,
           now() - make_interval(secs => {vms} - g.i), now()
    FROM (SELECT i, (ARRAY['Running', 'Running', 'Running', 'Running', 'Running', 'Running',
                           'Stopped', 'Stopped', 'Destroyed', 'Error'])[1 + i % 10] AS s
          FROM generate_series(0, {vms} - 1) i) g
    JOIN hs ON hs.n = (g.i * 7919) % {hosts};
INSERT INTO host_claims (vm_id, host_id, cpu_mhz, memory_mb)
    SELECT id, host_id, 1000, 1024 FROM vms WHERE state = 'Running';
UPDATE hosts h SET cpu_used_mhz = s.cpu, memory_used_mb = s.mem
    FROM (SELECT host_id, sum(cpu_mhz) AS cpu, sum(memory_mb) AS mem
          FROM host_claims GROUP BY host_id) s
    WHERE s.host_id = h.id;
INSERT INTO volumes (id, name, zone_id, pool_id, vm_id, kind, size_bytes, state, created_at,
                     device_id)
    SELECT gen_random_uuid(), 'strato-vol-' || v.id || '-' || k.kind, '{zone}', '{pool}', v.id,
           k.kind, 8589934592, 'Ready', v.created_at, k.device
    FROM vms v CROSS JOIN (VALUES ('ROOT', 0), ('DATADISK', 1)) k(kind, device);
ANALYZE;
"""


@dataclass
class ScaleDb:
    db: Database
    dsn: str
    zone_id: UUID
    offering_id: UUID
    template_id: UUID
    postmaster_pid: int
    populate_s: float


@asynccontextmanager
async def scratch_postgres(*, fsync: bool = True) -> AsyncIterator[tuple[str, int]]:
    """A private PostgreSQL in a temporary directory with Strato's schema: (dsn, its pid).
    Stopped and removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="strato-bench-pg-"))
    layout = postgres.PgLayout(work / "pg")
    postgres.init(layout)
    pg = postgres.start(layout, fsync=fsync)
    try:
        postgres.wait_ready(layout, pg)
        postgres.ensure_database(layout)
        await migrate_dsn(layout.dsn())
        yield layout.dsn(), pg.pid
    finally:
        pg.send_signal(2)
        try:
            pg.wait(30)
        except subprocess.TimeoutExpired:
            pg.kill()
        shutil.rmtree(work, ignore_errors=True)


@asynccontextmanager
async def scale_database(hosts: int, vms: int, pool_size: int = 20) -> AsyncIterator[ScaleDb]:
    async with scratch_postgres(fsync=False) as (dsn, pid):
        ids = {k: uuid4() for k in ("zone", "pod", "offering", "template", "pool")}
        db = await Database.connect(dsn, max_size=pool_size)
        t0 = time.perf_counter()
        async with db.tx() as conn:
            await conn.execute(POPULATE.format(hosts=hosts, vms=vms, **ids))
        populate_s = time.perf_counter() - t0
        try:
            yield ScaleDb(db, dsn, ids["zone"], ids["offering"], ids["template"], pid, populate_s)
        finally:
            await db.close()


def pss_mib(pid: int, *, with_children: bool = False) -> float:
    """Proportional set size (shared pages split between sharers), in MiB."""
    pids = [pid]
    if with_children:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True)
        pids += [int(p) for p in out.stdout.split()]
    total_kib = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]
