"""The compute agent (``strato agent compute``): one per hypervisor host, like CloudStack's
KVM agent, but its commands arrive as Temporal activities on ``compute@<host>``.

Start-up, in this order, so a refused agent never takes another host's work:

1. connect to the hypervisor and read the host's facts (unreachable: exit, nothing written);
2. register the host through the orchestrator (RegisterHost), under the agent's identity
   kept in its state file (a name another agent holds: exit, nothing written);
3. poll ``compute@<host>`` (and ``storage@<pool>`` for the cluster's file pools);
4. heartbeat to the host's HostMonitor every ``heartbeat_s`` with the hypervisor's VM
   report, and at once when the hypervisor signals a change (a ``virsh destroy``). Each
   report carries the monitor's watermark, asked before the domains are listed: the
   database, not this host's clock, decides which VM changes a report may correct.

The agent never touches the database: the orchestrator records and reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from strato.activities.compute.hypervisor import ComputeActivities
from strato.activities.storage.volumes import StorageActivities
from strato.domain.fabric import flows
from strato.domain.fabric.monitor import HostBeat, HostView
from strato.domain.fabric.payloads import (
    HostHeartbeat,
    PoolRef,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.ids import compute_queue, storage_queue
from strato.drivers.hypervisor.base import HypervisorDriver, HypervisorError
from strato.drivers.registry import load
from strato.settings import Settings
from strato.temporal import connect_to
from strato.workers.announce import announced, checked_instance
from strato.workers.health import HealthEndpoint, destroy_fenced, sample, send_beats, views
from strato.workflows.common.failures import failure_reason

log = logging.getLogger(__name__)


class AgentError(RuntimeError):
    """The agent cannot serve its host; the message says why and what to do."""


@dataclass
class AgentConfig:
    host: str
    zone: str
    cluster: str
    pod: str | None = None
    driver: str = "libvirt"
    libvirt_uri: str = "qemu:///system"
    state_dir: Path = Path("/var/lib/strato/agent")
    heartbeat_s: float = 10.0
    console_dir: Path = Path("/var/lib/strato/console")
    vnc_listen: str = "127.0.0.1"
    bridge: str = ""
    domain_type: str = "auto"
    # Where a neighbour's probe finds this agent alive (HOST:PORT; port 0: any free one).
    health_listen: str = "127.0.0.1:0"
    # Where Prometheus scrapes this agent's Temporal metrics (HOST:PORT; empty: nowhere).
    metrics_listen: str = ""

    def make_driver(self, settings: Settings) -> HypervisorDriver:
        cls = load("hypervisor", self.driver)
        if self.driver == "libvirt":
            driver: HypervisorDriver = cls(
                self.host,
                uri=self.libvirt_uri,
                console_dir=str(self.console_dir),
                vnc_listen=self.vnc_listen,
                bridge=self.bridge,
                domain_type=self.domain_type,
                image_roots=settings.image_root_list,
                pool_roots=settings.pool_root_list,
            )
        else:
            driver = cls(self.host)
        return driver


def agent_identity(state_dir: Path, host: str) -> uuid.UUID:
    """This agent's stable identity for ``host``, created on first start (mode 600)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{host}.json"
    if path.exists():
        return uuid.UUID(json.loads(path.read_text())["agent_id"])
    agent_id = uuid.uuid4()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": host, "agent_id": str(agent_id)}))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return agent_id


class ComputeAgent:
    def __init__(self, client: Client, settings: Settings, cfg: AgentConfig) -> None:
        self.client = client
        self.settings = settings
        self.cfg = cfg
        self.driver = cfg.make_driver(settings)
        self.agent_id = agent_identity(cfg.state_dir, cfg.host)
        self.registration: RegisterHostResult | None = None
        self._wake = asyncio.Event()
        self.pool_workers: dict[str, tuple[PoolRef, Worker, asyncio.Task[None]]] = {}
        self.health: HealthEndpoint | None = None

    async def register(self) -> RegisterHostResult:
        try:
            facts = await self.driver.host_facts()
        except HypervisorError as err:
            raise AgentError(f"{err}; nothing was registered") from err
        inp = RegisterHostInput(
            host_name=self.cfg.host,
            zone_name=self.cfg.zone,
            cluster_name=self.cfg.cluster,
            pod_name=self.cfg.pod,
            agent_id=self.agent_id,
            url=self.cfg.libvirt_uri if self.cfg.driver == "libvirt" else self.cfg.driver,
            facts=facts,
            agent_endpoint=self.health.url if self.health is not None else None,
        )
        try:
            result: RegisterHostResult = await self.client.execute_workflow(
                flows.REGISTER_HOST.name,
                inp,
                id=f"host-register:{self.cfg.host}:{self.agent_id}",
                task_queue=self.settings.orchestration_queue,
                result_type=RegisterHostResult,
                execution_timeout=timedelta(seconds=60),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowFailureError as err:
            raise AgentError(
                f"host {self.cfg.host} was not registered: {failure_reason(err)}"
            ) from err
        self.registration = result
        log.info(
            "host %s registered (%s, %s): %s cores, %s MiB, %s",
            self.cfg.host,
            "new" if result.created else "known",
            result.status,
            facts.cpu_cores,
            facts.memory_total_mb,
            facts.hypervisor_version,
        )
        return result

    def _compute_worker(self) -> Worker:
        return Worker(
            self.client,
            task_queue=compute_queue(self.cfg.host),
            activities=ComputeActivities(self.driver, self.cfg.host).all(),
            max_concurrent_activities=20,
        )

    async def _serve(self, pools: list[PoolRef]) -> None:
        """Serve exactly these pools: a worker started for each new one, stopped for each
        one gone (a pool added or removed while the agent runs: no restart needed)."""
        wanted = {p.name: p for p in pools}
        # Gone, or moved (its location changed: served anew below).
        for name in sorted(n for n, w in self.pool_workers.items() if wanted.get(n) != w[0]):
            _, worker, task = self.pool_workers.pop(name)
            await worker.shutdown()
            with contextlib.suppress(Exception):
                await task
            log.info("no longer serving pool %s", name)
        for name, pool in sorted(wanted.items()):
            if name in self.pool_workers:
                continue
            try:
                storage = load("storage", pool.driver)(
                    pool.name,
                    path=pool.url,
                    image_roots=self.settings.image_root_list,
                    pool_roots=self.settings.pool_root_list,
                )
            except Exception as err:  # one pool it cannot serve: the others still are
                log.error("cannot serve pool %s (%s at %s): %s", name, pool.driver, pool.url, err)
                continue
            worker = Worker(
                self.client,
                task_queue=storage_queue(pool.name),
                activities=StorageActivities(storage, self.settings.image_root_list).all(),
                max_concurrent_activities=20,
            )
            self.pool_workers[name] = (pool, worker, asyncio.create_task(worker.run()))
            log.info("serving pool %s (%s at %s)", pool.name, pool.driver, pool.url)

    async def _view(self) -> HostView | None:
        """What the host's monitor knows as of its last heartbeat (None: nothing yet)."""
        assert self.registration is not None
        host_id = self.registration.host_id
        s = self.settings
        known = await views(self.client, s.orchestration_queue, s.host_monitor_shards, [host_id])
        return known.get(host_id)

    async def heartbeat(self, *, stopping: bool = False, watermark: int | None = None) -> None:
        """One heartbeat. ``watermark``: the monitor's last (issued before the domains
        are listed, so the report is newer than it; None: the report corrects nothing)."""
        assert self.registration is not None
        vms = [] if stopping else await self.driver.list_vms()
        hb = HostHeartbeat(
            agent_id=self.agent_id,
            sent_at=datetime.now(UTC),
            vms=vms,
            stopping=stopping,
            watermark=None if stopping else watermark,
            stats=await sample(self.driver, vms),
        )
        beat = HostBeat(
            host_id=self.registration.host_id,
            host_name=self.cfg.host,
            window_s=3 * self.cfg.heartbeat_s,
            heartbeat=hb,
        )
        await send_beats(
            self.client,
            self.settings.orchestration_queue,
            self.settings.host_monitor_shards,
            [beat],
        )

    async def beat(self) -> None:
        """The monitor's answer to the last beat acted on (the pools to serve, the
        fenced domains destroyed), then the next beat."""
        view = await self._view()
        if view is not None:
            if view.pools is not None:
                await self._serve(view.pools)
            if await destroy_fenced(self.driver, view.fence):
                self._wake.set()  # report at once: the host is Up when it is clean
        await self.heartbeat(watermark=view.watermark if view else None)

    def _changed(self, name: str) -> None:
        self._wake.set()

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.beat()
            except Exception:
                log.exception("heartbeat failed; will retry")
            self._wake.clear()
            waiters = [asyncio.ensure_future(e.wait()) for e in (stop, self._wake)]
            await asyncio.wait(waiters, timeout=self.cfg.heartbeat_s, return_when="FIRST_COMPLETED")
            for w in waiters:
                w.cancel()
            if self._wake.is_set() and not stop.is_set():
                await asyncio.sleep(0.3)  # let a burst of events settle into one report

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; the driver is closed however this ends."""
        try:
            self.health = await HealthEndpoint.start(
                self.cfg.health_listen, {"host": self.cfg.host, "agent_id": str(self.agent_id)}
            )
            await self.register()
            self.driver.on_change(self._changed)
            me = checked_instance(
                self.settings,
                "compute-agent",
                f"compute-agent@{self.cfg.host}",
                self.health.url,
                zone=self.cfg.zone,
                metadata={"host": self.cfg.host, "queue": compute_queue(self.cfg.host)},
            )
            async with self._compute_worker(), announced(self.client, self.settings, me):
                assert self.registration is not None
                await self._serve(self.registration.pools)
                log.info("agent for %s polling %s", self.cfg.host, compute_queue(self.cfg.host))
                try:
                    await self._heartbeats(stop)
                    with contextlib.suppress(Exception):
                        await self.heartbeat(stopping=True)
                finally:
                    await self._serve([])
        finally:
            if self.health is not None:
                await self.health.close()
            await self.driver.close()


async def run(settings: Settings, cfg: AgentConfig, stop: asyncio.Event) -> None:
    client = await connect_to(settings, wait_s=30, metrics_listen=cfg.metrics_listen)
    await ComputeAgent(client, settings, cfg).run(stop)


def main(settings: Settings, cfg: AgentConfig) -> int:
    """The CLI entry: 0 after a clean stop, 2 with a message if the agent cannot serve."""
    from strato.workers.lifecycle import run_until_signal

    try:
        run_until_signal(lambda stop: run(settings, cfg, stop))
    except AgentError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0
