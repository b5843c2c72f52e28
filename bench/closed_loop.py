"""Closed-loop VM boot and delete through a real ``strato up``, as operator tooling does it.

C clients boot N demo-zone VMs (POST /vms, GET /vms/{id} every P s until Running), then
destroy them with expunge (GET until Expunged or 404): VMs/s, p50/p95, CPU s/VM of the
``strato up`` process tree; then bare workflows of the same shapes on the same Temporal
server, and the ratio; per run (--runs K), the Temporal dev server's RSS and db size.

Run: python -m bench.closed_loop [--n 100] [--concurrency 10] [--poll 0.05] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import httpx
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.bare import noop
    from strato.embedded.proc import child_preexec

# The shapes of today's workflows: L = local activity, R = on a host/pool queue, C = child.
DEPLOY = "LLRRL"  # begin, place (NICs, host + pool claims), volume, define+start, finish
# begin (Stopping), stop+undefine, Destroyed+Expunging, delete volume, expunged: one run.
DESTROY = "LRLRL"
Result = tuple[float, list[float], int]  # wall s, latencies ms, failures


@workflow.defn(name="BenchBareShape")
class BareShapeWorkflow:
    @workflow.run
    async def run(self, queue: str, shape: str) -> int:
        t = timedelta(seconds=30)
        for i, step in enumerate(shape):
            if step == "L":
                await workflow.execute_local_activity("bench.noop", i, start_to_close_timeout=t)
            elif step == "R":
                await workflow.execute_activity(
                    "bench.noop", i, task_queue=queue, start_to_close_timeout=t
                )
            else:
                wid = f"{workflow.info().workflow_id}-c"
                await workflow.execute_child_workflow(
                    BareShapeWorkflow.run, args=[queue, shape[i + 1 :]], id=wid
                )
                break
        return len(shape)


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (a gone process: parent -1, no CPU)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["X", "-1"] + ["0"] * 50


def tree(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        kids.setdefault(int(_stat(int(d))[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        out.append(todo.pop())
        todo += kids.get(out[-1], [])
    return out


def cpu_s(pid: int) -> float:
    """utime + stime, plus cutime + cstime (children already exited and reaped)."""
    return sum(int(x) for x in _stat(pid)[11:15]) / os.sysconf("SC_CLK_TCK")


def label(pid: int) -> str:
    """temporal, postgres, api, orchestrator, simulator (strato.cli's last word, if any)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return "gone"
    verb = args[args.index("strato.cli") + 1 :] if "strato.cli" in args else [Path(args[0]).name]
    return verb[1] if verb[0] in ("worker", "agent") else verb[0]


def cpu_by_part(root: int | None) -> dict[str, float]:
    """CPU seconds of the root itself and of each of its children's subtrees."""
    if root is None:
        return {}
    parts = {"up": cpu_s(root)}
    for child in (p for p in tree(root) if _stat(p)[1] == str(root)):
        parts[label(child)] = parts.get(label(child), 0.0) + sum(map(cpu_s, tree(child)))
    return parts


def temporal_mem(root: int | None) -> tuple[int | None, str]:
    for pid in tree(root) if root else []:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "temporal":
                continue
            status = Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError):
            continue
        db = Path(args[args.index("--db-filename") + 1]) if "--db-filename" in args else None
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) if db else 0
        return pid, f"Temporal RSS {int(status) / 1024:6.1f} MiB  db+wal {size / 2**20:6.1f} MiB"
    return None, "Temporal RSS n/a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(work: Path) -> tuple[subprocess.Popen[bytes], str, str, str]:
    api, tport, ui = free_port(), free_port(), free_port()
    env = {**os.environ, "STRATO_DATA_DIR": str(work), "STRATO_API_PORT": str(api)}
    env |= {"STRATO_TEMPORAL_PORT": str(tport), "STRATO_TEMPORAL_UI_PORT": str(ui)}
    log = work / "up.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "strato"), "up"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=child_preexec(None, pdeathsig=True),  # dies with us
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while "Strato is up" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"strato up failed:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    key = json.loads((work / "client.json").read_text())["api_key"]
    print(f"strato up: pid {proc.pid}, data dir {work}", flush=True)
    return proc, f"http://127.0.0.1:{api}", key, f"127.0.0.1:{tport}"


async def ensure_capacity(api: httpx.AsyncClient, zone: str, off: dict[str, Any], n: int) -> None:
    """Enough Up hosts for n VMs of ``off`` at once (overcommit not counted); adds
    simulated hosts to the demo cluster (AddHost workflows) if not."""
    hosts = (await api.get("/hosts", params={"zone_id": zone, "limit": 500})).json()["items"]
    mhz, mb = off["cpu_count"] * off["cpu_speed_mhz"], off["memory_mb"]

    def fit(cpu: int, mem: int) -> int:
        return int(min(cpu // mhz, mem // mb))

    fits = sum(
        fit(
            h["cpu_cores"] * h["cpu_speed_mhz"] - h["cpu_used_mhz"] - h["cpu_reserved_mhz"],
            h["memory_total_mb"] - h["memory_used_mb"] - h["memory_reserved_mb"],
        )
        for h in hosts
        if h["status"] == "Up"
    )
    more = max(0, -(-(n - fits) // fit(32 * 2400, 131072)))  # a default simulated host
    print(f"capacity: {fits} {off['name']} VMs on {len(hosts)} hosts; adding {more} hosts")
    for _ in range(more):
        body = {"cluster_id": hosts[0]["cluster_id"], "name": f"cl-{uuid.uuid4().hex[:8]}"}
        op = (await api.post("/hosts", json=body)).json()["operation"]["id"]
        state = "running"
        while state in ("pending", "running"):
            await asyncio.sleep(0.5)
            state = (await api.get(f"/operations/{op}")).json()["state"]


async def closed_loop(n: int, c: int, one: Callable[[int], Awaitable[float | None]]) -> Result:
    """c clients, each taking the next of n items when its previous one is done."""
    items, lat = iter(range(n)), list[float]()

    async def client() -> None:
        for i in items:
            if (ms := await one(i)) is not None:
                lat.append(ms)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(c)))
    return time.perf_counter() - t0, lat, n - len(lat)


async def poll(api: httpx.AsyncClient, vm_id: str, want: str, every: float) -> bool:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        await asyncio.sleep(every)
        r = await api.get(f"/vms/{vm_id}")
        if r.status_code == 404 and want == "Expunged":
            return True
        if (state := r.json().get("state")) in (want, "Error"):
            return bool(state == want)
    return False


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def line(what: str, r: Result, cpu: float) -> str:
    wall, lat, failed = r
    return (
        f"  {what:<14}{len(lat) / wall:6.1f} VMs/s  p50 {pct(lat, 0.5):5.0f} ms  p95 "
        f"{pct(lat, 0.95):5.0f} ms  cpu {cpu:.3f} s/VM" + (f"  FAILED {failed}" if failed else "")
    )


async def bench(a: argparse.Namespace, url: str, key: str, taddr: str, root: int | None) -> None:
    n, c, every = a.n, a.concurrency, a.poll
    auth = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=2 * c + 4)
    api = httpx.AsyncClient(base_url=f"{url}/api/v1", headers=auth, timeout=120, limits=limits)
    zone, off, tpl = [  # from the demo data of `strato up`
        (await api.get(path, params={"name": name})).json()["items"][0]
        for path, name in (
            ("/zones", "demo"),
            ("/service-offerings", "small"),
            ("/templates", "tiny-linux"),
        )
    ]
    await ensure_capacity(api, zone["id"], off, n)
    body = {"zone_id": zone["id"], "service_offering_id": off["id"], "template_id": tpl["id"]}
    client = await Client.connect(taddr)
    queue = f"bench-closed-loop-{uuid.uuid4().hex[:6]}"

    async def strato(ids: list[str], boot: bool, count: int) -> tuple[Result, dict[str, float]]:
        async def one(i: int) -> float | None:
            t0 = time.perf_counter()
            try:
                if boot:
                    r = await api.post("/vms", json={**body, "name": f"cl-{uuid.uuid4().hex}"})
                    vm = r.json()["operation"]["resource_id"] if r.status_code == 202 else None
                    if ok := vm is not None and await poll(api, vm, "Running", every):
                        ids.append(vm)
                else:
                    r = await api.post(f"/vms/{ids[i]}/destroy", json={"expunge": True})
                    ok = r.status_code == 202 and await poll(api, ids[i], "Expunged", every)
            except (httpx.HTTPError, ValueError, KeyError):
                ok = False
            return (time.perf_counter() - t0) * 1000 if ok else None

        before = cpu_by_part(root)
        r = await closed_loop(count, c, one)
        done = max(1, len(r[1]))
        return r, {k: (v - before.get(k, 0.0)) / done for k, v in cpu_by_part(root).items()}

    async def bare(shape: str) -> tuple[Result, float]:
        async def one(i: int) -> float | None:
            t0 = time.perf_counter()
            wid = f"{queue}-{uuid.uuid4()}"
            await client.execute_workflow(
                BareShapeWorkflow.run, args=[queue, shape], id=wid, task_queue=queue
            )
            return (time.perf_counter() - t0) * 1000

        tpid = temporal_mem(root)[0]
        cpu0 = (cpu_s(tpid) if tpid else 0.0) + sum(os.times()[:2])
        r = await closed_loop(n, c, one)
        return r, ((cpu_s(tpid) if tpid else 0.0) + sum(os.times()[:2]) - cpu0) / n

    rows = ["run  boot/s  delete/s  bare boot/s  bare del/s"]
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareShapeWorkflow],
        activities=[noop],
        max_concurrent_workflow_tasks=200,  # as the orchestrator worker
        max_concurrent_activities=500,
        max_concurrent_local_activities=40,
    ):
        warm: list[str] = []  # warm-up: C VMs booted and deleted, one bare of each shape
        await strato(warm, True, c)
        await strato(warm, False, len(warm))
        await bare(DEPLOY)
        await bare(DESTROY)
        print(f"warm-up done; {temporal_mem(root)[1]}", flush=True)
        for run in range(1, a.runs + 1):
            print(f"run {run}/{a.runs}  N={n} C={c} poll={every}s", flush=True)
            ids: list[str] = []
            rates: list[float] = []
            parts: dict[str, list[float]] = {}
            for what, shape in (("boot", DEPLOY), ("delete", DESTROY)):
                boot = what == "boot"
                sr, scpu = await strato(ids, boot, n if boot else len(ids))
                br, bcpu = await bare(shape)
                print(line(f"{what} strato", sr, sum(scpu.values())))
                print(line(f"{what} bare", br, bcpu) + " (temporal + bench process)")
                rates += [len(sr[1]) / sr[0], n / br[0]]
                print(f"  {what} ratio strato/bare {rates[-2] / rates[-1]:.2f}", flush=True)
                for k, v in scpu.items():
                    parts.setdefault(k, []).append(v)
            cpu = "  ".join(f"{k} {v[0]:.3f}/{v[-1]:.3f}" for k, v in sorted(parts.items()))
            mem = temporal_mem(root)[1]
            print(f"  cpu s/VM by process (boot/delete): {cpu}\n  {mem}", flush=True)
            r = rates
            rows.append(f"{run:>3} {r[0]:7.1f} {r[2]:9.1f} {r[1]:12.1f} {r[3]:11.1f}  {mem}")
    print("\n".join(rows))
    await api.aclose()


async def main(a: argparse.Namespace) -> None:
    if a.url:
        return await bench(a, a.url, a.key, a.temporal, a.pid)
    work = Path(tempfile.mkdtemp(prefix="strato-closed-loop-"))
    proc, url, key, taddr = start_up(work)
    try:
        await bench(a, url, key, taddr, proc.pid)
    finally:
        proc.terminate()  # SIGTERM: strato up stops its children in reverse order
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def cli() -> None:
    p = argparse.ArgumentParser(description="closed-loop VM boot/delete through strato up")
    for name, kind, default in (("n", int, 100), ("concurrency", int, 10), ("poll", float, 0.05)):
        p.add_argument(f"--{name}", type=kind, default=default)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the data dir of strato up")
    p.add_argument("--url", help="reuse a running platform (with --key)")
    p.add_argument("--key")
    p.add_argument("--temporal", default="127.0.0.1:7233", help="its Temporal (with --url)")
    p.add_argument("--pid", type=int, help="its `strato up` pid: CPU and RSS (with --url)")
    asyncio.run(main(p.parse_args()))


if __name__ == "__main__":
    # Through the importable module, so the workflow sandbox finds BareShapeWorkflow.
    importlib.import_module("bench.closed_loop").cli()
