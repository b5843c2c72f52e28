"""Host monitoring at scale: N simulated hosts heartbeating every B seconds into the
HostMonitors shards (one batch per shard per beat from the simulator fleet) on one
orchestrator worker and the embedded Temporal dev server, each host's compute and
network queues polled by the fleet (``--heartbeats-only``: not polled, which isolates the
monitoring's cost from the per-queue cost of the engine; ``--one-by-one``: each host's
beat sent as its own signal, as real agents, one per host, send theirs; ``--shared-queue``:
the hosts served on the fleet's shared queue, two queues in all instead of two per host).

Prints, per N: the time until every host's heartbeat is recorded, the CPU used over a
steady window by Temporal and by this process (orchestrator worker + simulated fleet),
per host per minute, their memory (RSS), and the detection time of a dead host (its
agent stopped -> Alert -> a neighbour's probe -> Down), against the heartbeat window
(3 beats). Targets (#14): 10,000 hosts on one worker, detection < 2 windows, Temporal
under 2 GiB.

Run: python -m bench.host_monitoring [HOSTS ...] [--beat S] [--steady S] [--partitions N]
                                    [--heartbeats-only] [--one-by-one] [--polls N]
                                    [--shared-queue]
     (default 100 500, beat 10 s, steady 60 s, the server's own partition count)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stack import Stack, embedded_stack

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


SHARED = "bench-fleet"


async def _populate(stack: Stack, hosts: int) -> None:
    zone, pod = uuid.uuid4(), uuid.uuid4()
    async with stack.db.tx() as conn:
        await conn.execute("INSERT INTO zones (id, name) VALUES ($1, 'mon')", zone)
        await conn.execute("INSERT INTO pods (id, zone_id, name) VALUES ($1, $2, 'p1')", pod, zone)
        await conn.execute(
            """INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor)
               SELECT gen_random_uuid(), $1, $2, 'c' || i, 'simulator'
               FROM generate_series(0, 9) i""",
            zone,
            pod,
        )
        await conn.execute(
            """INSERT INTO hosts (id, zone_id, pod_id, cluster_id, name, hypervisor, status,
                                  cpu_sockets, cpu_cores, cpu_speed_mhz, memory_total_mb,
                                  agent_endpoint, agent_queue)
               SELECT gen_random_uuid(), $1, $2, c.id, 'mh' || i, 'simulator', 'Up', 1, 32,
                      2400, 131072, 'sim://mh' || i, NULLIF($4, '')
               FROM generate_series(0, $3 - 1) i
               JOIN (SELECT row_number() OVER (ORDER BY name) - 1 AS n, id FROM clusters) c
                 ON c.n = i % 10""",
            zone,
            pod,
            hosts,
            stack.settings.sim_shared_queue,
        )


async def _all_heard(stack: Stack, hosts: int, since: float, limit_s: float) -> float:
    while time.monotonic() - since < limit_s:
        async with stack.db.conn() as conn:
            heard = await conn.fetchval(
                "SELECT count(*) FROM hosts WHERE last_heartbeat_at IS NOT NULL"
            )
        if heard >= hosts:
            return time.monotonic() - since
        await asyncio.sleep(0.5)
    raise SystemExit(f"only {heard} of {hosts} hosts heartbeating after {limit_s:.0f}s")


async def _detect(stack: Stack, name: str, limit_s: float, down: bool) -> tuple[float, float]:
    """Seconds from the host's agent stopping to its Alert (silence noticed) and to its
    Down (investigated: neighbours' probes, which need their queues polled; without,
    0)."""
    stack.platform.fleet.down.add(name)
    t0 = time.monotonic()
    alert = 0.0
    while time.monotonic() - t0 < limit_s:
        async with stack.db.conn() as conn:
            status = await conn.fetchval("SELECT status FROM hosts WHERE name = $1", name)
        if status in ("Alert", "Down") and not alert:
            alert = time.monotonic() - t0
            if not down:
                return alert, 0.0
        if status == "Down":
            return alert, time.monotonic() - t0
        await asyncio.sleep(0.2)
    raise SystemExit(f"{name} not {'Down' if down else 'Alert'} within {limit_s:.0f}s")


async def _no_queues(queue: str, activities: list[Any], stop: asyncio.Event) -> None:
    """The fleet's worker for a host's queue, not started (``--heartbeats-only``)."""
    del queue, activities
    await stop.wait()


def _polling(polls: int) -> Any:
    """The fleet's worker for a host's queue with ``polls`` pollers (``--polls``)."""

    async def serve(queue: str, activities: list[Any], stop: asyncio.Event) -> None:
        from temporalio.worker import Worker

        worker = Worker(
            fleet_client[0],
            task_queue=queue,
            activities=activities,
            max_concurrent_activity_task_polls=polls,
            max_concurrent_activities=200,
        )
        async with worker:
            await stop.wait()

    return serve


fleet_client: list[Any] = []


def _one_by_one() -> None:
    """The fleet sends each host's beat as its own signal (a batch of one), as a real
    agent does, instead of one batch per shard."""
    from strato.workers import health, simulator_agent

    async def each(client: Any, queue: str, shards: int, beats: list[Any]) -> None:
        await asyncio.gather(*(health.send_beats(client, queue, shards, [b]) for b in beats))

    simulator_agent.send_beats = each  # type: ignore[attr-defined]


async def one(
    hosts: int,
    beat: float,
    steady: float,
    partitions: int | None,
    queues: bool,
    polls: int | None = None,
    shared: bool = False,
) -> dict[str, float]:
    extra = (
        {
            "matching.numTaskqueueReadPartitions": str(partitions),
            "matching.numTaskqueueWritePartitions": str(partitions),
        }
        if partitions
        else None
    )
    async with embedded_stack(
        sim_heartbeat_s=beat, dynamic_config=extra, sim_shared_queue=SHARED if shared else ""
    ) as stack:
        if not queues:
            stack.platform.fleet._serve = _no_queues  # type: ignore[method-assign]
        elif polls:
            fleet_client[:] = [stack.platform.fleet.client]
            stack.platform.fleet._serve = _polling(polls)  # type: ignore[method-assign]
        t0 = time.monotonic()
        await _populate(stack, hosts)
        up_s = await _all_heard(stack, hosts, t0, limit_s=max(120.0, hosts * 0.5))
        await asyncio.sleep(2 * beat)  # past the start-up burst
        me, temporal = os.getpid(), stack.temporal_pid
        c0 = (_cpu_s(temporal), _cpu_s(me), time.monotonic())
        await asyncio.sleep(steady)
        c1 = (_cpu_s(temporal), _cpu_s(me), time.monotonic())
        minutes = (c1[2] - c0[2]) / 60
        alert_s, detect_s = await _detect(stack, "mh0", limit_s=20 * beat, down=queues)
        return {
            "hosts": hosts,
            "all_heard_s": up_s,
            "temporal_cpu_ms_per_host_min": 1000 * (c1[0] - c0[0]) / minutes / hosts,
            "worker_cpu_ms_per_host_min": 1000 * (c1[1] - c0[1]) / minutes / hosts,
            "temporal_cores": (c1[0] - c0[0]) / (c1[2] - c0[2]),
            "worker_cores": (c1[1] - c0[1]) / (c1[2] - c0[2]),
            "temporal_rss_mib": _rss_mib(temporal),
            "worker_rss_mib": _rss_mib(me),
            "alert_s": alert_s,
            "detect_s": detect_s,
            "detect_windows": detect_s / (3 * beat),
        }


async def main(
    sizes: list[int],
    beat: float,
    steady: float,
    partitions: int | None,
    queues: bool,
    polls: int | None = None,
    shared: bool = False,
) -> None:
    rows = []
    for n in sizes:
        row = await one(n, beat, steady, partitions, queues, polls, shared)
        rows.append(row)
        print(
            f"{n:>6} hosts: all heartbeating in {row['all_heard_s']:.0f}s; steady "
            f"{steady:.0f}s: Temporal {row['temporal_cores']:.2f} cores "
            f"({row['temporal_cpu_ms_per_host_min']:.1f} ms/host/min), worker+fleet "
            f"{row['worker_cores']:.2f} cores ({row['worker_cpu_ms_per_host_min']:.1f} "
            f"ms/host/min); RSS Temporal {row['temporal_rss_mib']:.0f} MiB, worker+fleet "
            f"{row['worker_rss_mib']:.0f} MiB; dead host Alert in {row['alert_s']:.1f}s, "
            f"Down in {row['detect_s']:.1f}s ({row['detect_windows']:.2f} windows)",
            flush=True,
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        per = (b["temporal_rss_mib"] - a["temporal_rss_mib"]) / (b["hosts"] - a["hosts"])
        print(f"Temporal memory per added host: {per:.2f} MiB")
    print("targets: 10,000 hosts on one worker, detection < 2 windows, Temporal < 2 GiB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("hosts", nargs="*", type=int, default=[100, 500])
    ap.add_argument("--beat", type=float, default=10.0)
    ap.add_argument("--steady", type=float, default=60.0)
    ap.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="task queue partitions (the dev server's dynamic config; default: its own)",
    )
    ap.add_argument(
        "--heartbeats-only",
        action="store_true",
        help="the hosts' queues are not polled: the monitoring's cost alone",
    )
    ap.add_argument(
        "--polls", type=int, default=None, help="pollers per host queue (the fleet's: 2)"
    )
    ap.add_argument(
        "--one-by-one", action="store_true", help="one signal per host beat (real agents')"
    )
    ap.add_argument(
        "--shared-queue",
        action="store_true",
        help="the hosts on the fleet's shared queues (STRATO_SIM_SHARED_QUEUE)",
    )
    a = ap.parse_args()
    if a.one_by_one:
        _one_by_one()
    asyncio.run(
        main(
            a.hosts,
            a.beat,
            a.steady,
            a.partitions,
            not a.heartbeats_only,
            a.polls,
            a.shared_queue,
        )
    )
