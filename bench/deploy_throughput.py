"""Deploy throughput and latency through Strato vs the engine's ceiling, in one run.

A fresh stack (PostgreSQL and Temporal from the wheels, the orchestrator worker and the
simulated agents in this process, the API over ASGI) with 100 simulated hosts at zero
driver latency. For N concurrent deploys through the API: VMs/s, p50/p99 deploy
latency; then a bare workflow with the same activities (3 local + 2 regular no-ops, in
DeployVm's order) on the same Temporal server; the ratio Strato/bare. Only deploys that
succeeded count as throughput (a failed deploy is reported, not counted). Also a single
deploy on an idle stack against the bare equivalent.

Run: python -m bench.deploy_throughput [N ...] [--partitions P] [--shared-queue]
     (default: 200 1000; P: task queue partitions, the dev server's own count unless
     given; --shared-queue: the hosts on the fleet's shared queues, not their own)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareDeployWorkflow, noop
from bench.stack import embedded_stack


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


FAILED: list[str] = []


async def wait_done(client: Client, workflow_id: str, t0: float) -> float | None:
    """The deploy's latency in ms, or None (recorded in FAILED) if it failed."""
    try:
        await client.get_workflow_handle(workflow_id).result()
    except Exception as err:  # counted and printed: a benchmark reports, it does not crash
        FAILED.append(f"{workflow_id}: {getattr(err, 'cause', err)}")
        return None
    return (time.perf_counter() - t0) * 1000


async def strato_run(
    api: httpx.AsyncClient, client: Client, body: dict[str, object], n: int
) -> tuple[float, list[float]]:
    """Wall time and the latencies of the deploys that succeeded (failures not counted)."""

    async def one(i: int) -> float | None:
        t0 = time.perf_counter()
        r = await api.post("/vms", json={**body, "name": f"b{uuid.uuid4().hex[:8]}"})
        assert r.status_code == 202, r.text
        return await wait_done(client, r.json()["operation"]["workflow_id"], t0)

    t0 = time.perf_counter()
    lat = await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, [x for x in lat if x is not None]


async def bare_run(client: Client, queue: str, n: int) -> tuple[float, list[float]]:
    async def one() -> float:
        t0 = time.perf_counter()
        await client.execute_workflow(
            BareDeployWorkflow.run, queue, id=str(uuid.uuid4()), task_queue=queue
        )
        return (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    lat = await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0, list(lat)


def line(label: str, n: int, wall: float, lat: list[float]) -> str:
    failed = f"   ({n - len(lat)} failed, not counted)" if len(lat) < n else ""
    return (
        f"{label:<8} N={n:<5} {len(lat) / wall:7.1f} VMs/s   p50 {statistics.median(lat):7.0f} ms"
        f"   p99 {pct(lat, 0.99):7.0f} ms{failed}"
    )


async def main(sizes: list[int], partitions: int | None = None, shared: bool = False) -> None:
    extra = (
        {
            "matching.numTaskqueueReadPartitions": str(partitions),
            "matching.numTaskqueueWritePartitions": str(partitions),
        }
        if partitions
        else None
    )
    fleet = "bench-fleet" if shared else ""
    async with embedded_stack(dynamic_config=extra, sim_shared_queue=fleet) as stack:
        api, client, db = stack.api, stack.client, stack.db
        zone = (await api.post("/zones", json={"name": "bench"})).json()
        pod = (await api.post("/pods", json={"zone_id": zone["id"], "name": "p"})).json()
        cl = (
            await api.post(
                "/clusters", json={"pod_id": pod["id"], "name": "c", "hypervisor": "simulator"}
            )
        ).json()
        await api.post(
            "/storage-pools",
            json={
                "name": "bp",
                "cluster_id": cl["id"],
                "driver": "simulator",
                "capacity_bytes": 1 << 50,
            },
        )
        off = (
            await api.post(
                "/service-offerings",
                json={"name": "tiny", "cpu_count": 1, "cpu_speed_mhz": 100, "memory_mb": 64},
            )
        ).json()
        tpl = (await api.post("/templates", json={"name": "t", "size_bytes": 1 << 20})).json()
        await api.post(
            "/networks",
            json={
                "zone_id": zone["id"],
                "name": "g",
                "cidr": "10.0.0.0/16",
                "gateway": "10.0.0.1",
                "ip_start": "10.0.0.10",
                "ip_end": "10.0.255.250",
            },
        )
        host_ops = [
            (await api.post("/hosts", json={"cluster_id": cl["id"], "name": f"bh{i:03d}"})).json()
            for i in range(100)
        ]
        for h in host_ops:
            await client.get_workflow_handle(h["operation"]["workflow_id"]).result()
        body = {
            "zone_id": zone["id"],
            "service_offering_id": off["id"],
            "template_id": tpl["id"],
        }
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[BareDeployWorkflow],
            activities=[noop],
            max_concurrent_workflow_tasks=200,
            max_concurrent_activities=500,
            max_concurrent_local_activities=500,
        ):
            await bare_run(client, queue, 5)  # warm both paths
            await strato_run(api, client, body, 5)
            print("single deploy on an idle stack (10 runs, sequential):")
            s_lat = [(await strato_run(api, client, body, 1))[1][0] for _ in range(10)]
            b_lat = [(await bare_run(client, queue, 1))[1][0] for _ in range(10)]
            sm, bm = statistics.median(s_lat), statistics.median(b_lat)
            print(f"  strato p50 {sm:6.0f} ms   bare p50 {bm:6.0f} ms   bare/strato {bm / sm:4.2f}")
            for n in sizes:
                sw, sl = await strato_run(api, client, body, n)
                bw, bl = await bare_run(client, queue, n)
                print(line("strato", n, sw, sl))
                print(line("bare", n, bw, bl))
                ratio = (len(sl) / sw) / (len(bl) / bw)
                print(f"  ratio strato/bare throughput: {ratio:4.2f} (target >= 0.7)")
        running = await db.pool.fetchval("SELECT count(*) FROM vms WHERE state = 'Running'")
        print(f"VMs Running at the end: {running}; failed deploys: {len(FAILED)}")
        for f in FAILED[:5]:
            print("  ", f)


if __name__ == "__main__":
    args = sys.argv[1:]
    parts = None
    if "--partitions" in args:  # task queue partitions (the dev server's dynamic config)
        i = args.index("--partitions")
        parts = int(args[i + 1])
        del args[i : i + 2]
    shared = "--shared-queue" in args
    if shared:
        args.remove("--shared-queue")
    asyncio.run(main([int(a) for a in args] or [200, 1000], parts, shared))
