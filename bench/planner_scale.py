"""Planner decision time at scale: plan + claim for one VM among 10,000 hosts.

The data-service step the deploy workflow runs (``records.vm_plan_claim``): read the
zone's candidate hosts and the VM's affinity rules, run the planner, claim with one
guarded UPDATE. Measured one VM at a time and with 8 deploys planning concurrently,
for each planner. Target: p99 under 20 ms.

Run: python -m bench.planner_scale [--hosts 10000] [--vms 100000] [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from uuid import UUID, uuid4

from bench.scale_data import ScaleDb, pct, pss_mib, scale_database
from strato.activities.compute.records import VmRecordsActivities
from strato.domain.compute.payloads import PlanInput

TARGET_P99_MS = 20.0


async def _new_vms(s: ScaleDb, n: int, owner: str) -> list[tuple[UUID, UUID]]:
    """Allocated VMs holding their deploy's lock, as the API leaves them."""
    pairs = [(uuid4(), uuid4()) for _ in range(n)]
    async with s.db.tx() as conn:
        await conn.executemany(
            """INSERT INTO vms (id, name, zone_id, service_offering_id, template_id, owner,
                                cpu_count, cpu_speed_mhz, memory_mb, state,
                                current_operation_id, current_operation_kind)
               VALUES ($1::uuid, 'p-' || $1::uuid::text, $3, $4, $5, $6, 1, 1000, 1024,
                       'Allocated', $2,
                       'deploy')""",
            [(v, op, s.zone_id, s.offering_id, s.template_id, owner) for v, op in pairs],
        )
    return pairs


async def _run(s: ScaleDb, rec: VmRecordsActivities, n: int, concurrency: int) -> list[float]:
    vms = await _new_vms(s, n, owner=f"bench{concurrency}")
    times: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(vm: UUID, op: UUID) -> None:
        async with sem:
            t0 = time.perf_counter()
            await rec.vm_plan_claim(PlanInput(vm_id=vm, operation_id=op))
            times.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(one(v, op) for v, op in vms))
    return times


async def main(hosts: int, vms: int, n: int) -> None:
    async with scale_database(hosts, vms, pool_size=20) as s:
        print(f"populated {hosts} hosts, {vms} VMs, {2 * vms} volumes in {s.populate_s:.1f}s")
        rec = VmRecordsActivities(s.db)
        print(
            f"{'planner':<16} {'concurrency':>11} {'p50 ms':>8} {'p99 ms':>8} {'decisions/s':>12}"
        )
        worst = 0.0
        for planner in ("first_fit", "user_dispersing", "random"):
            async with s.db.tx() as conn:
                await conn.execute(
                    "UPDATE zones SET planner = $1 WHERE id = $2", planner, s.zone_id
                )
            await _run(s, rec, 20, 1)  # warm the pool and the plans
            for concurrency in (1, 8):
                t0 = time.perf_counter()
                times = await _run(s, rec, n, concurrency)
                rate = n / (time.perf_counter() - t0)
                p99 = pct(times, 0.99)
                if concurrency == 1:
                    worst = max(worst, p99)
                print(
                    f"{planner:<16} {concurrency:>11} {pct(times, 0.5):>8.1f} {p99:>8.1f} "
                    f"{rate:>12.0f}"
                )
        async with s.db.conn() as conn:
            drift = await conn.fetchval(
                """SELECT count(*) FROM hosts h LEFT JOIN (
                       SELECT host_id, sum(cpu_mhz) AS c FROM host_claims GROUP BY host_id) s
                   ON s.host_id = h.id WHERE h.cpu_used_mhz <> coalesce(s.c, 0)"""
            )
        assert drift == 0, f"{drift} hosts' counters disagree with their claims"
        verdict = "met" if worst < TARGET_P99_MS else "NOT met"
        print(
            f"worst p99 of one decision: {worst:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms: {verdict})"
        )
        print(
            f"memory (PSS): bench process (planner + data service) {pss_mib(os.getpid()):.0f} MiB,"
            f" PostgreSQL (all backends) {pss_mib(s.postmaster_pid, with_children=True):.0f} MiB"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=10_000)
    p.add_argument("--vms", type=int, default=100_000)
    p.add_argument("--n", type=int, default=100)
    a = p.parse_args()
    asyncio.run(main(a.hosts, a.vms, a.n))
