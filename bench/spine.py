"""Spine overheads, side by side in one run (ratios hold better than absolutes here).

1. Create a zone through the REST API (auth, validation, repository, event row) versus
   the same insert done directly with the repository: the API's cost per write.
2. AddHost end to end (API -> Temporal -> worker -> compute@host agent -> PostgreSQL)
   versus a bare workflow with the same number of no-op activities on the same server.

Run: python -m bench.spine [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

from temporalio.worker import Worker

from bench.bare import BareWorkflow, noop
from bench.stack import embedded_stack
from strato.schema import repository
from strato.schema.tables import ZONES


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def main(n: int) -> None:
    async with embedded_stack() as stack:
        api, client, db = stack.api, stack.client, stack.db
        api_ms, raw_ms = [], []
        for i in range(n):
            t0 = time.perf_counter()
            r = await api.post("/zones", json={"name": f"api{i}"})
            api_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201
            t0 = time.perf_counter()
            async with db.tx() as conn:
                await repository.insert(conn, ZONES, {"name": f"raw{i}"})
            raw_ms.append((time.perf_counter() - t0) * 1000)
        a, b = statistics.median(api_ms), statistics.median(raw_ms)
        print(
            f"zone create   API p50 {a:6.2f} ms  p99 {pct(api_ms, 0.99):6.2f} ms | "
            f"repository p50 {b:6.2f} ms | ratio API/raw {a / b:5.2f}"
        )

        zone = (await api.get("/zones", params={"name": "api0"})).json()["items"][0]
        pod = (await api.post("/pods", json={"zone_id": zone["id"], "name": "p"})).json()
        cl = (
            await api.post(
                "/clusters", json={"pod_id": pod["id"], "name": "c", "hypervisor": "simulator"}
            )
        ).json()
        host_ms, accept_ms = [], []
        for i in range(max(5, n // 10)):
            t0 = time.perf_counter()
            r = await api.post("/hosts", json={"cluster_id": cl["id"], "name": f"bh{i}"})
            accept_ms.append((time.perf_counter() - t0) * 1000)
            op_id = r.json()["operation"]["id"]
            handle = client.get_workflow_handle(r.json()["operation"]["workflow_id"])
            await handle.result()
            host_ms.append((time.perf_counter() - t0) * 1000)
            assert (await api.get(f"/operations/{op_id}")).json()["state"] == "succeeded"

        bare_ms = []
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        async with Worker(client, task_queue=queue, workflows=[BareWorkflow], activities=[noop]):
            for _ in range(len(host_ms)):
                t0 = time.perf_counter()
                await client.execute_workflow(
                    BareWorkflow.run, 3, id=str(uuid.uuid4()), task_queue=queue
                )
                bare_ms.append((time.perf_counter() - t0) * 1000)
        a, b = statistics.median(host_ms), statistics.median(bare_ms)
        print(
            f"AddHost       e2e p50 {a:6.1f} ms  p99 {pct(host_ms, 0.99):6.1f} ms | "
            f"bare 3-activity workflow p50 {b:6.1f} ms | ratio {a / b:5.2f}"
        )
        print(
            "              of which POST /hosts until 202: "
            f"p50 {statistics.median(accept_ms):6.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
