"""The chaos driver: the platform as separate processes, a mixed workload, SIGKILLs.

Processes: PostgreSQL (embedded), the Temporal dev server (SQLite), the orchestrator
worker, the simulator agent (every simulated host and pool) and the API, each started
on its own with a log in ``<workdir>/logs``. A seeded schedule kills each kind several
times with SIGKILL and restarts it after a short, seeded pause. Meanwhile users drive
the API (deploy, stop, start, reboot, scale, destroy, recover, expunge VMs; add and
remove hosts) with retries under one ``Idempotency-Key`` per request, and a consumer
follows the event stream, resuming with ``Last-Event-ID`` whenever the API dies.

At the end, with every process up: every operation is terminal, no VM, volume or host
is in a transitional state, ``strato doctor`` finds nothing, and the consumer saw every
event exactly once, in id order, with each VM's state changes chaining to its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from strato.doctor import examine
from strato.domain.states import TRANSITIONAL_VOLUME
from strato.embedded import postgres, temporal
from strato.embedded.proc import child_preexec
from strato.embedded.up import wait_http
from strato.schema import api_keys, events
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.temporal import connect
from tests.conftest import free_port

KINDS = ("postgres", "temporal", "orchestrator", "agent", "api")
TERMINAL = ("succeeded", "failed", "cancelled")
VM_TRANSITIONAL = ("Allocated", "Starting", "Stopping", "Migrating", "Expunging")
VOLUME_TRANSITIONAL = tuple(sorted(TRANSITIONAL_VOLUME))
HOST_TRANSITIONAL = ("Creating", "Connecting")


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Kill:
    at_s: float
    kind: str
    down_s: float

    def __str__(self) -> str:
        return f"t={self.at_s:6.1f}s kill -9 {self.kind:<12} (restart after {self.down_s:.1f}s)"


def schedule(seed: int, seconds: float, per_kind: int) -> list[Kill]:
    """Each kind ``per_kind`` times, at seeded random moments of the workload."""
    rng = random.Random(f"kills-{seed}")
    kills = [
        Kill(
            round(rng.uniform(3.0, max(seconds - 5.0, 4.0)), 1), kind, round(rng.uniform(0.2, 3), 1)
        )
        for kind in KINDS
        for _ in range(per_kind)
    ]
    return sorted(kills, key=lambda k: k.at_s)


@dataclass
class Proc:
    kind: str
    start: Callable[[], subprocess.Popen[bytes]]
    ready: Callable[[subprocess.Popen[bytes]], None]
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    busy: bool = False  # being killed or restarted on purpose

    def up(self) -> None:
        self.proc = self.start()
        self.ready(self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT if self.kind == "postgres" else signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Stats:
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    operations: dict[str, str] = field(default_factory=dict)  # op id -> kind


class Platform:
    """The five kinds of process, each started on its own."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pg = postgres.PgLayout(workdir / "pg")
        postgres.init(self.pg)  # generates the roles' passwords the DSN carries
        self.dsn = self.pg.dsn("strato")
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}/api/v1"
        self.env = {
            **os.environ,
            "STRATO_DATA_DIR": str(workdir / "data"),
            "STRATO_DATABASE_URL": self.dsn,
            "STRATO_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "STRATO_API_URL": f"http://127.0.0.1:{self.api_port}",
            # durable timers fire during the run; faults make retries and the avoid set work
            "STRATO_EXPUNGE_DELAY_S": "4",
            "STRATO_SIM_LATENCY_MS": "15",
            "STRATO_SIM_FAIL_RATE": "0.03",
            "STRATO_SIM_FAIL_OPS": "create_volume,define_vm,start_vm,stop_vm,reboot_vm",
            "STRATO_SIM_SEED": str(seed),
            "STRATO_HOST_CONNECT_TIMEOUT_S": "20",
        }
        self.procs = {
            "postgres": Proc("postgres", self._start_pg, self._pg_ready),
            "temporal": Proc("temporal", self._start_temporal, self._temporal_ready),
            "orchestrator": Proc(
                "orchestrator", self._cli("orchestrator", "worker", "orchestrator"), _settle
            ),
            "agent": Proc("agent", self._cli("agent", "agent", "simulator"), _settle),
            "api": Proc(
                "api", self._cli("api", "api", "--port", str(self.api_port)), self._api_ready
            ),
        }

    def _start_pg(self) -> subprocess.Popen[bytes]:
        return postgres.start(self.pg)

    def _pg_ready(self, proc: subprocess.Popen[bytes]) -> None:
        postgres.wait_ready(self.pg, proc, timeout=60)

    def _start_temporal(self) -> subprocess.Popen[bytes]:
        return temporal.start(
            self.workdir / "temporal" / "temporal.db",
            self.logs / "temporal.log",
            port=self.temporal_port,
            ui_port=None,
        )

    def _temporal_ready(self, proc: subprocess.Popen[bytes]) -> None:
        temporal.wait_port("127.0.0.1", self.temporal_port, proc, 60, "Temporal")

    def _cli(self, name: str, *args: str) -> Callable[[], subprocess.Popen[bytes]]:
        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "strato.cli", *args],
                stdout=(self.logs / f"{name}.log").open("ab"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=child_preexec(None, pdeathsig=True),
                start_new_session=True,
            )

        return start

    def _api_ready(self, proc: subprocess.Popen[bytes]) -> None:
        wait_http(f"{self.api_url}/health", proc, 60, "the API")

    def start(self) -> None:
        self.procs["postgres"].up()
        postgres.ensure_database(self.pg)
        asyncio.run(migrate_dsn(self.dsn))
        for kind in KINDS[1:]:
            self.procs[kind].up()

    def stop(self) -> None:
        for kind in reversed(KINDS):
            self.procs[kind].stop()

    def tail(self, kind: str, lines: int = 30) -> str:
        log = self.pg.log if kind == "postgres" else self.logs / f"{kind}.log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _settle(proc: subprocess.Popen[bytes]) -> None:
    time.sleep(0.3)
    if proc.poll() is not None:
        raise RuntimeError(f"exited with {proc.returncode} right after starting")


class Chaos:
    def __init__(self, workdir: Path, *, seed: int, seconds: float, kills_per_kind: int) -> None:
        self.seed = seed
        self.seconds = seconds
        self.rng = random.Random(f"workload-{seed}")
        self.platform = Platform(workdir, seed)
        self.kills = schedule(seed, seconds, kills_per_kind)
        self.stats = Stats()
        self.token = ""
        self.fab: dict[str, Any] = {}
        self.seen_events: list[int] = []
        self.duplicates = 0
        self.out_of_order = 0
        self.reconnects = 0
        self.unexpected: list[str] = []
        self._stop = asyncio.Event()

    # -- the API, as a patient client ----------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.platform.api_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=15,
        )

    async def call(
        self, api: httpx.AsyncClient, method: str, path: str, body: Any = None, *, key: str = ""
    ) -> httpx.Response:
        """Retry through dead processes: connection errors and 5xx, same idempotency key."""
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + 120
        while True:
            try:
                r = await api.request(method, path, json=body, headers=headers)
                if r.status_code < 500:
                    return r
                why = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as err:
                why = f"{type(err).__name__}: {err}"
            self.stats.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} kept failing for 120s: {why}")
            await asyncio.sleep(0.3)

    async def wait_op(self, api: httpx.AsyncClient, op_id: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = await self.call(api, "GET", f"/operations/{op_id}")
            if r.status_code == 200 and r.json()["state"] in TERMINAL:
                state: str = r.json()["state"]
                return state
            await asyncio.sleep(0.25)
        return "timeout"

    # -- setup -----------------------------------------------------------------------------

    async def setup(self) -> None:
        conn = await asyncpg.connect(self.platform.dsn)
        try:
            async with conn.transaction():
                _, self.token = await api_keys.create(conn, "chaos", "admin")
        finally:
            await conn.close()
        from tests.workflows.test_guest_networks import networking
        from tests.workflows.vm_helpers import vm_zone

        async with self.client() as api:
            self.fab = await vm_zone(api, hosts=3, memory_mb=512)
            # An isolated network on a physical network: its VMs' ports, its router and
            # its rules are the simulated network agents'.
            self.fab = await networking(api, self.fab)
            big = await self.call(
                api,
                "POST",
                "/service-offerings",
                {
                    "name": f"big-{self.seed}",
                    "cpu_count": 2,
                    "cpu_speed_mhz": 1000,
                    "memory_mb": 1024,
                },
            )
            self.fab["big"] = big.json()

    # -- workload --------------------------------------------------------------------------

    async def _vms(self, api: httpx.AsyncClient, state: str) -> list[dict[str, Any]]:
        r = await self.call(
            api, "GET", f"/vms?zone_id={self.fab['zone']['id']}&state={state}&limit=100"
        )
        items: list[dict[str, Any]] = r.json()["items"] if r.status_code == 200 else []
        return items

    async def _accept(
        self, api: httpx.AsyncClient, kind: str, path: str, body: Any, method: str = "POST"
    ) -> str | None:
        r = await self.call(
            api, method, path, body, key=str(uuid.UUID(int=self.rng.getrandbits(128)))
        )
        if r.status_code != 202:
            self.stats.rejected[kind] += 1
            return None
        op_id: str = r.json()["operation"]["id"]
        self.stats.accepted[kind] += 1
        self.stats.operations[op_id] = kind
        return op_id

    async def one_action(self, api: httpx.AsyncClient) -> None:
        rng = self.rng
        verb = rng.choices(
            [
                "deploy",
                "stop",
                "start",
                "reboot",
                "scale",
                "destroy",
                "recover",
                "expunge",
                "add-host",
                "remove-host",
                "volume",
                "vm-snapshot",
                "network",
            ],
            weights=[26, 12, 12, 10, 8, 12, 4, 4, 6, 6, 30, 8, 12],
        )[0]
        op: str | None = None
        if verb == "network":
            await self.network_action(api)
            return
        if verb == "volume":
            await self.volume_action(api)
            return
        if verb == "vm-snapshot":
            await self.vm_snapshot_action(api)
            return
        if verb == "deploy":
            body = {
                "name": f"c{rng.randrange(10**6)}",
                "zone_id": self.fab["zone"]["id"],
                "service_offering_id": self.fab["offering"]["id"],
                "template_id": self.fab["template"]["id"],
            }
            if rng.random() < 0.4:  # on the isolated network (its NIC plugged by an agent)
                body["network_ids"] = [self.fab["network"]["id"]]
            op = await self._accept(api, verb, "/vms", body)
        elif verb == "add-host":
            body = {"cluster_id": self.fab["cluster"]["id"], "name": f"h{rng.randrange(10**6)}"}
            op = await self._accept(api, verb, "/hosts", body)
        elif verb == "remove-host":
            r = await self.call(
                api, "GET", f"/hosts?cluster_id={self.fab['cluster']['id']}&limit=100"
            )
            hosts = r.json()["items"] if r.status_code == 200 else []
            if len(hosts) > 3:
                victim = rng.choice(hosts)
                d = await self.call(api, "DELETE", f"/hosts/{victim['id']}")
                outcome = "removed" if d.status_code == 204 else f"refused {d.status_code}"
                self.stats.outcomes[f"remove-host {outcome}"] += 1
            return
        else:
            wanted = {
                "stop": "Running",
                "start": "Stopped",
                "reboot": "Running",
                "scale": "Stopped",
                "destroy": rng.choice(["Running", "Stopped", "Error"]),
                "recover": "Destroyed",
                "expunge": "Destroyed",
            }[verb]
            vms = await self._vms(api, wanted)
            if not vms:
                return
            vm = rng.choice(vms)
            body: dict[str, Any] | None = None
            if verb == "scale":
                target = "big" if vm["memory_mb"] != self.fab["big"]["memory_mb"] else "offering"
                body = {"service_offering_id": self.fab[target]["id"]}
            elif verb == "destroy":
                body = {"expunge": rng.random() < 0.3}
            op = await self._accept(api, verb, f"/vms/{vm['id']}/{verb}", body)
        if op is not None:
            self.stats.outcomes[f"{verb} {await self.wait_op(api, op)}"] += 1

    async def network_action(self, api: httpx.AsyncClient) -> None:
        """The isolated network's public IPs and rules (each change applied to its router
        by an operation), and restarts with and without cleanup."""
        rng, net = self.rng, self.fab["network"]["id"]
        verb = rng.choice(["acquire", "forward", "firewall", "unrule", "release", "restart"])
        ops: list[str] = []
        if verb == "restart":
            op = await self._accept(
                api, "network-restart", f"/networks/{net}/restart", {"cleanup": rng.random() < 0.5}
            )
            ops += [op] if op else []
        elif verb == "acquire":
            body = {"zone_id": self.fab["zone"]["id"], "network_id": net}
            r = await self.call(api, "POST", "/public-ips", body)
            self._rule_outcome("ip-acquire", r, ops)
        else:
            ip = await self._pick(api, "/public-ips", network_id=net, state="Allocated")
            if ip is None or ip["source_nat"]:
                return
            path = f"/public-ips/{ip['id']}"
            if verb == "release":
                r = await self.call(api, "DELETE", path)
            elif verb == "forward":
                vm = await self._pick(api, "/vms", zone_id=self.fab["zone"]["id"], state="Running")
                if vm is None:
                    return
                port = rng.randrange(1000, 1100)
                body = {"vm_id": vm["id"], "protocol": "tcp", "public_start": port}
                r = await self.call(
                    api, "POST", f"{path}/port-forwarding-rules", {**body, "private_start": 22}
                )
            elif verb == "firewall":
                body = {"protocol": "tcp", "start_port": rng.randrange(1000, 1100)}
                r = await self.call(api, "POST", f"{path}/firewall-rules", body)
            else:
                rule = await self._pick(api, f"{path}/port-forwarding-rules")
                if rule is None:
                    return
                r = await self.call(api, "DELETE", f"/port-forwarding-rules/{rule['id']}")
            self._rule_outcome(f"ip-{verb}", r, ops)
        for op in ops:
            self.stats.outcomes[f"network-{verb} {await self.wait_op(api, op)}"] += 1

    def _rule_outcome(self, kind: str, r: httpx.Response, ops: list[str]) -> None:
        """A synchronous change: accepted (its ApplyNetwork operation, if any, followed)
        or refused (4xx: a clash, an address with rules, no VM on the network...)."""
        if r.status_code >= 400:
            self.stats.rejected[kind] += 1
            return
        self.stats.accepted[kind] += 1
        location = r.headers.get("Operation-Location")
        if location:
            op = location.rsplit("/", 1)[1]
            self.stats.operations[op] = kind
            ops.append(op)

    async def _pick(self, api: httpx.AsyncClient, path: str, **query: str) -> dict[str, Any] | None:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        r = await self.call(api, "GET", f"{path}?{q}&limit=100")
        items: list[dict[str, Any]] = r.json()["items"] if r.status_code == 200 else []
        return self.rng.choice(items) if items else None

    async def vm_snapshot_action(self, api: httpx.AsyncClient) -> None:
        """VM snapshots: take one (with the memory of a running VM, disks only of a
        stopped one), revert to one, delete one (more often than taking: a VM with
        snapshots refuses volume changes and scaling)."""
        verb = self.rng.choice(["take", "revert", "delete", "delete"])
        if verb == "take":
            vms = await self._vms(api, self.rng.choice(["Running", "Stopped"]))
            if not vms:
                return
            vm = self.rng.choice(vms)
            body = {"memory": vm["state"] == "Running"}
            op = await self._accept(api, "vm-snapshot", f"/vms/{vm['id']}/vm-snapshots", body)
        else:
            states = "Ready" if verb == "revert" else self.rng.choice(["Ready", "Error"])
            snap = await self._pick(api, "/vm-snapshots", state=states)
            if snap is None:
                return
            path = f"/vm-snapshots/{snap['id']}"
            if verb == "revert":
                op = await self._accept(api, "vm-snapshot-revert", f"{path}/revert", None)
            else:
                op = await self._accept(api, "vm-snapshot-delete", path, None, method="DELETE")
        if op is not None:
            self.stats.outcomes[f"vm-snapshot-{verb} {await self.wait_op(api, op)}"] += 1

    async def volume_action(self, api: httpx.AsyncClient) -> None:
        """Data volumes and snapshots: create, attach, detach, resize, snapshot, revert,
        delete a snapshot, destroy (now or later)."""
        rng, zone = self.rng, self.fab["zone"]["id"]
        verb = rng.choices(
            ["create", "attach", "detach", "resize", "snapshot", "revert", "unsnap", "destroy"],
            weights=[14, 16, 10, 6, 10, 5, 5, 8],
        )[0]
        op: str | None = None
        if verb == "create":
            body = {"name": f"d{rng.randrange(10**6)}", "zone_id": zone, "size_gb": 1}
            r = await self.call(api, "POST", "/volumes", body)
            self.stats.outcomes[f"volume-create {r.status_code}"] += 1
            return
        if verb in ("revert", "unsnap"):
            snap = await self._pick(api, "/snapshots", zone_id=zone, state="CreatedOnPrimary")
            if snap is None:
                return
            if verb == "revert":
                op = await self._accept(
                    api, "snapshot-revert", f"/snapshots/{snap['id']}/revert", None
                )
            else:
                r = await self.call(api, "DELETE", f"/snapshots/{snap['id']}")
                if r.status_code == 202:
                    op = r.json()["operation"]["id"]
                    self.stats.accepted["snapshot-delete"] += 1
                    self.stats.operations[op] = "snapshot-delete"
                else:
                    self.stats.rejected["snapshot-delete"] += 1
        else:
            state = "Allocated" if verb == "attach" and rng.random() < 0.5 else "Ready"
            vol = await self._pick(api, "/volumes", zone_id=zone, kind="DATADISK", state=state)
            if vol is None:
                return
            body: dict[str, Any] | None = None
            path = f"/volumes/{vol['id']}/{verb}"
            if verb == "attach":
                vm = await self._pick(
                    api, "/vms", zone_id=zone, state=rng.choice(["Running", "Stopped"])
                )
                if vm is None:
                    return
                body = {"vm_id": vm["id"]}
            elif verb == "resize":
                body = {"size_gb": vol["size_bytes"] // (1 << 30) + 1}
            elif verb == "snapshot":
                path = f"/volumes/{vol['id']}/snapshots"
            elif verb == "destroy":
                body = {"expunge": rng.random() < 0.5}
            op = await self._accept(api, f"volume-{verb}", path, body)
        if op is not None:
            self.stats.outcomes[f"volume-{verb} {await self.wait_op(api, op)}"] += 1

    async def user(self, n: int) -> None:
        async with self.client() as api:
            while not self._stop.is_set():
                await self.one_action(api)
                await asyncio.sleep(self.rng.uniform(0.0, 0.3))

    async def consume_events(self) -> None:
        """Follow /events/stream; on any break, resume after the last id seen."""
        last = 0
        while True:
            try:
                async with (
                    self.client() as api,
                    api.stream(
                        "GET",
                        "/events/stream",
                        headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"},
                        timeout=httpx.Timeout(5, read=30),
                    ) as r,
                ):
                    if r.status_code != 200:
                        raise httpx.HTTPError(f"HTTP {r.status_code}")
                    async for line in r.aiter_lines():
                        if not line.startswith("id: "):
                            continue
                        eid = int(line[4:])
                        if eid in self._seen_set:
                            self.duplicates += 1
                        elif eid < last:
                            self.out_of_order += 1
                        self._seen_set.add(eid)
                        self.seen_events.append(eid)
                        last = max(last, eid)
            except (httpx.HTTPError, OSError):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)

    # -- kills -----------------------------------------------------------------------------

    async def killer(self, t0: float) -> None:
        for k in self.kills:
            await asyncio.sleep(max(0.0, t0 + k.at_s - time.monotonic()))
            proc = self.platform.procs[k.kind]
            say(str(k))
            proc.busy = True
            try:
                await asyncio.to_thread(proc.kill)
                await asyncio.sleep(k.down_s)
                await asyncio.to_thread(proc.up)
            finally:
                proc.busy = False

    async def watchdog(self) -> None:
        """A process that exits on its own (not killed by us) is a failure: record it,
        with its log, and restart it as a supervisor would so the run can go on."""
        while True:
            for kind, proc in self.platform.procs.items():
                if proc.busy or proc.proc is None or proc.proc.poll() is None:
                    continue
                self.unexpected.append(
                    f"{kind} exited by itself with {proc.proc.returncode}:\n"
                    + self.platform.tail(kind, 15)
                )
                say(f"{kind} exited by itself with {proc.proc.returncode}; restarting it")
                proc.busy = True
                try:
                    await asyncio.to_thread(proc.up)
                finally:
                    proc.busy = False
            await asyncio.sleep(0.5)

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> list[str]:
        """The whole run; returns the failures (empty: passed)."""
        self._seen_set: set[int] = set()
        say(f"seed {self.seed}, {self.seconds:g}s of workload, {len(self.kills)} kills:")
        for k in self.kills:
            say(f"  {k}")
        await self.setup()
        consumer = asyncio.create_task(self.consume_events())
        watchdog = asyncio.create_task(self.watchdog())
        t0 = time.monotonic()
        killer = asyncio.create_task(self.killer(t0))
        users = [asyncio.create_task(self.user(i)) for i in range(4)]
        await asyncio.sleep(self.seconds)
        await killer
        self._stop.set()
        await asyncio.gather(*users)
        say(f"workload done after {time.monotonic() - t0:.0f}s; checking the end state")
        try:
            failures = await self.verify()
        finally:
            for task in (consumer, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return self.unexpected + failures

    async def verify(self) -> list[str]:
        failures: list[str] = []
        db = await Database.connect(self.platform.dsn, max_size=4)
        client = await connect(self.platform.env["STRATO_TEMPORAL_ADDRESS"], wait_s=30)
        try:
            async with self.client() as api:
                async with db.conn() as conn:
                    all_ops = [str(r["id"]) for r in await conn.fetch("SELECT id FROM operations")]
                not_done = {}
                for op_id in all_ops:
                    state = await self.wait_op(api, op_id, timeout=240)
                    if state not in TERMINAL:
                        not_done[op_id] = state
                if not_done:
                    failures.append(f"{len(not_done)} operation(s) not terminal: {not_done}")
            stuck = await _wait_quiet(db)
            if stuck:
                failures.append(f"resources left in transitional states: {stuck}")
            report = await examine(db, client, queue="orchestration", reach_s=20)
            self.doctor = (
                f"{len(report.findings)} finding(s); {report.hosts_compared} host(s) and "
                f"{report.pools_compared} pool(s) compared with their drivers"
            )
            if report.findings:
                failures.append(
                    "strato doctor found:\n"
                    + "\n".join(f"  {f.check}: {f.resource}: {f.detail}" for f in report.findings)
                )
            unreached = [n for n in report.notes if "did not answer" in n]
            if unreached:
                failures.append(f"agents did not answer the doctor: {unreached}")
            failures += await self._check_events(db)
        finally:
            await db.close()
        return failures

    async def _check_events(self, db: Database) -> list[str]:
        async with db.conn() as conn:
            await events.number(conn)  # every writer has stopped: all of them get an id
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
            chains = await conn.fetch(
                """SELECT e.resource_id, e.old_state, e.new_state, v.state AS now
                   FROM events e JOIN vms v ON v.id = e.resource_id
                   WHERE e.resource_type = 'vm' AND e.new_state IS NOT NULL
                   ORDER BY e.resource_id, e.id"""
            )
        deadline = time.monotonic() + 30
        while (
            not self.seen_events or self.seen_events[-1] < ids[-1]
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        failures = []
        if self.duplicates or self.out_of_order:
            failures.append(
                f"event stream: {self.duplicates} duplicate(s), {self.out_of_order} out of order"
            )
        seen = [i for i in self.seen_events if i <= ids[-1]]
        if seen != ids:
            missing = sorted(set(ids) - set(seen))
            failures.append(
                f"the consumer saw {len(seen)} of {len(ids)} events; missing {missing[:20]}"
            )
        prev: dict[Any, Any] = {}
        now: dict[Any, str] = {}
        broken = []
        for r in chains:
            vid = r["resource_id"]
            if vid in prev and r["old_state"] is not None and r["old_state"] != prev[vid]:
                broken.append(f"{vid}: {prev[vid]} then {r['old_state']}->{r['new_state']}")
            prev[vid], now[vid] = r["new_state"], r["now"]
        broken += [
            f"{v}: last event says {prev[v]}, the VM is {now[v]}" for v in prev if prev[v] != now[v]
        ]
        if broken:
            failures.append("VM state events do not chain:\n  " + "\n  ".join(broken[:20]))
        self.events_total = len(ids)
        return failures

    def report(self) -> str:
        kills = Counter({k: p.kills for k, p in self.platform.procs.items()})
        lines = [
            f"chaos report (seed {self.seed}, {self.seconds:g}s)",
            "  kills per process: " + ", ".join(f"{k} {kills[k]}" for k in KINDS),
            "  operations accepted per kind: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.stats.accepted.items())),
            "  rejected (409/422, no state change): "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.stats.rejected.items())) or "none"),
            "  outcomes: " + ", ".join(f"{k} {n}" for k, n in sorted(self.stats.outcomes.items())),
            f"  requests retried through dead processes: {self.stats.retries}",
            f"  events: {getattr(self, 'events_total', 0)} in the outbox, "
            f"{len(self.seen_events)} received, stream resumed {self.reconnects} time(s)",
            f"  strato doctor: {getattr(self, 'doctor', 'not run')}",
            f"  replay: STRATO_CHAOS_SEED={self.seed} STRATO_CHAOS_SECONDS={self.seconds:g}",
        ]
        return "\n".join(lines)


async def _wait_quiet(db: Database, timeout: float = 120) -> dict[str, int]:
    """Wait until nothing is transitional; return what still is after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.conn() as conn:
            row = await conn.fetchrow(
                """SELECT (SELECT count(*) FROM vms WHERE state = ANY($1::text[])
                                                 OR current_operation_id IS NOT NULL) AS vms,
                          (SELECT count(*) FROM volumes WHERE state = ANY($2::text[])
                                                 OR current_operation_id IS NOT NULL) AS volumes,
                          (SELECT count(*) FROM snapshots
                            WHERE state IN ('Allocated', 'Creating', 'Destroying')) AS snapshots,
                          (SELECT count(*) FROM vm_snapshots
                            WHERE state IN ('Creating', 'Reverting', 'Expunging')
                               OR current_operation_id IS NOT NULL) AS vm_snapshots,
                          (SELECT count(*) FROM hosts WHERE status = ANY($3::text[])) AS hosts""",
                list(VM_TRANSITIONAL),
                list(VOLUME_TRANSITIONAL),
                list(HOST_TRANSITIONAL),
            )
        stuck = {k: v for k, v in dict(row).items() if v}
        if not stuck or time.monotonic() > deadline:
            return stuck
        await asyncio.sleep(0.5)


def run(workdir: Path, *, seed: int, seconds: float, kills_per_kind: int) -> tuple[list[str], str]:
    chaos = Chaos(workdir, seed=seed, seconds=seconds, kills_per_kind=kills_per_kind)
    chaos.platform.start()
    try:
        failures = asyncio.run(chaos.run())
    finally:
        chaos.platform.stop()
    report = chaos.report()
    if failures:
        report += "\n" + "\n".join(
            f"--- {k} log (tail) ---\n{chaos.platform.tail(k)}" for k in KINDS
        )
    return failures, report
