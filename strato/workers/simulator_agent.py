"""One process acting as the agent of every simulated host and simulated pool.

Real hosts run one agent each (``strato agent compute``). Simulated hosts are many and
cheap, so one process serves them all, in one of two ways per host (its ``agent_queue``):

- its own queues ``compute@<host>`` and ``network@<host>``, as a real host: each has
  exactly one poller, and a host made down stops its workers, so workflows see exactly
  what they would see with a dead real agent (nothing takes its steps);
- the fleet's shared queues ``compute+<tag>`` and ``network+<tag>``
  (``STRATO_SIM_SHARED_QUEUE=<tag>`` when the host was added), each step naming its host
  (:mod:`strato.workers.shared_queue`): two queues for the whole fleet, since the engine's
  cost is per queue. A host made down there has its steps refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from temporalio.client import Client
from temporalio.worker import Worker

from strato.activities.compute.hypervisor import ComputeActivities
from strato.activities.fabric.probe import probe_agent
from strato.activities.network.agent import NetworkActivities
from strato.activities.storage.volumes import StorageActivities
from strato.domain.fabric.ha import ProbeInput, ProbeResult
from strato.domain.fabric.monitor import HostBeat
from strato.domain.fabric.payloads import HostHeartbeat
from strato.domain.ids import compute_queue, network_queue, shared_queue, storage_queue
from strato.drivers.faults import FaultPlan
from strato.drivers.hypervisor.simulator import SimulatorHypervisor
from strato.drivers.network.simulator import SimulatorNetworkElement, SimulatorRouter
from strato.drivers.storage.simulator import SimulatorPrimaryStorage
from strato.schema.db import Database
from strato.schema.fabric import hosts
from strato.settings import Settings
from strato.temporal import connect_to
from strato.workers import directory
from strato.workers.health import destroy_fenced, sample, send_beats, views
from strato.workers.shared_queue import HostDispatch

log = logging.getLogger(__name__)


class SimulatorFleet:
    def __init__(self, client: Client, db: Database, settings: Settings) -> None:
        self.client = client
        self.db = db
        self.settings = settings
        self.faults = FaultPlan.parse(
            latency_ms=settings.sim_latency_ms,
            fail_rate=settings.sim_fail_rate,
            hang_rate=settings.sim_hang_rate,
            fail_targets=settings.sim_fail_hosts,
            fail_ops=settings.sim_fail_ops,
            seed=settings.sim_seed,
        )
        self.drivers: dict[str, SimulatorHypervisor] = {}
        self.pools: dict[str, SimulatorPrimaryStorage] = {}
        self.elements: dict[str, SimulatorNetworkElement] = {}
        self.routers: dict[str, SimulatorRouter] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stops: dict[str, asyncio.Event] = {}
        # Failure injection: simulated hosts and pools whose agent is down (their queues
        # are not polled), as when a real host's agent dies.
        self.down: set[str] = set()
        # Simulated hosts whose network agent is a real one (a test's, on a lab switch):
        # their network queue is left to it.
        self.real_network: set[str] = set()
        # Failure injection: simulated hosts cut off from Temporal (no heartbeat, queues
        # not polled) whose agent is alive: a neighbour's probe still finds it.
        self.partitioned: set[str] = set()
        # The simulated hosts served, by name: (id, status) as of the last refresh.
        self.hosts: dict[str, tuple[UUID, str]] = {}
        self.agent_id = uuid4()
        # Hosts served on the shared queues now, by subsystem (neither down nor cut off;
        # network: only those in zones with physical networks, as below).
        self.shared: dict[str, set[str]] = {"compute": set(), "network": set()}
        self._refreshing = asyncio.Lock()
        self._refreshes = 0
        self.dispatch = {
            "compute": HostDispatch("compute", self._compute_activities, self._refusal("compute")),
            "network": HostDispatch("network", self._network_activities, self._refusal("network")),
        }

    def _refusal(self, subsystem: str) -> Callable[[str], Awaitable[str | None]]:
        async def why(host: str) -> str | None:
            if host not in self.shared[subsystem] | self.down | self.partitioned:
                # Added since the last refresh (its own queue would hold the step until
                # the fleet polled it): look again now.
                await self._catch_up()
            if host in self.down:
                return f"the simulated agent of {host} is down"
            if host in self.partitioned:
                return f"the simulated agent of {host} is cut off from Temporal"
            if host not in self.shared[subsystem]:
                return f"{host} has no {subsystem} agent on this fleet's shared queue"
            return None

        return why

    def _state_file(self, kind: str, name: str) -> Path | None:
        """Simulated hosts and pools outlive this process unless STRATO_SIM_PERSIST=false."""
        if not self.settings.sim_persist:
            return None
        return self.settings.data_dir / "sim" / f"{kind}-{name}.json"

    def _driver(self, name: str) -> SimulatorHypervisor:
        if name not in self.drivers:
            s = self.settings
            self.drivers[name] = SimulatorHypervisor(
                name,
                cpu_cores=s.sim_host_cpu_cores,
                cpu_speed_mhz=s.sim_host_cpu_speed_mhz,
                memory_mb=s.sim_host_memory_mb,
                faults=self.faults,
                state_file=self._state_file("host", name),
                pools=self.pools,
                peers=self.drivers,
            )
        return self.drivers[name]

    async def _serve(self, queue: str, activities: list[Any], stop: asyncio.Event) -> None:
        many = "+" in queue  # a shared queue: every shared host's steps
        worker = Worker(
            self.client,
            task_queue=queue,
            activities=activities,
            max_concurrent_activity_task_polls=4 if many else 2,
            max_concurrent_activities=1000 if many else 200,
        )
        async with worker:
            await stop.wait()

    def _pool(self, name: str, capacity_bytes: int) -> SimulatorPrimaryStorage:
        if name not in self.pools:
            self.pools[name] = SimulatorPrimaryStorage(
                name,
                capacity_bytes=max(capacity_bytes, 1),
                faults=self.faults,
                state_file=self._state_file("pool", name),
            )
        return self.pools[name]

    def _compute_activities(self, host: str) -> list[Any]:
        return ComputeActivities(
            self._driver(host), host, functools.partial(self.probe, host)
        ).all()

    async def probe(self, prober: str, inp: ProbeInput) -> ProbeResult:
        """A simulated host probing another's agent: a simulated one is alive unless it
        was made down (partitioned ones answer); a real one is asked over HTTP."""
        if not (inp.endpoint or "").startswith("sim://"):
            return await probe_agent(inp, prober)
        name = (inp.endpoint or "").removeprefix("sim://")
        if name in self.down:
            return ProbeResult(
                reachable=False, prober=prober, detail=f"the simulated agent of {name} is down"
            )
        return ProbeResult(
            reachable=True, prober=prober, detail=f"the simulated agent of {name} answers"
        )

    async def heartbeat(self) -> None:
        """One heartbeat of each simulated host that is neither down nor partitioned,
        in one batch per monitor shard; a host back from Down first destroys its fenced
        domains (named by its shard), as a real agent does."""
        window = 3 * self.settings.sim_heartbeat_s
        shards = self.settings.host_monitor_shards
        live = {
            name: host_id
            for name, (host_id, _status) in sorted(self.hosts.items())
            if name not in self.down and name not in self.partitioned
        }
        down = [h for n, h in live.items() if self.hosts[n][1] == "Down"]
        queue = self.settings.orchestration_queue
        fences = await views(self.client, queue, shards, down) if down else {}
        beats = []
        for name, host_id in live.items():
            driver = self._driver(name)
            if host_id in fences:
                await destroy_fenced(driver, fences[host_id].fence)
            vms = await driver.list_vms()
            hb = HostHeartbeat(
                agent_id=self.agent_id,
                sent_at=datetime.now(UTC),
                vms=vms,
                stats=await sample(driver, vms),
            )
            beats.append(HostBeat(host_id=host_id, host_name=name, window_s=window, heartbeat=hb))
        await send_beats(self.client, queue, shards, beats)

    def _network_activities(self, host: str) -> list[Any]:
        """The simulated host's network agent: an in-memory element and routers."""
        if host not in self.elements:
            self.elements[host] = SimulatorNetworkElement(
                host, faults=self.faults, state_file=self._state_file("switch", host)
            )
            self.routers[host] = SimulatorRouter(
                host, faults=self.faults, state_file=self._state_file("routers", host)
            )
        return NetworkActivities(self.elements[host], self.routers[host]).all()

    def _storage_activities(self, pool: str, capacity_bytes: int) -> list[Any]:
        return StorageActivities(
            self._pool(pool, capacity_bytes), self.settings.image_root_list
        ).all()

    async def _catch_up(self) -> None:
        """A refresh that started after the call (or none, if one did meanwhile)."""
        seen = self._refreshes
        async with self._refreshing:
            if self._refreshes == seen:
                await self._refresh()

    async def refresh(self) -> None:
        """Serve every simulated host and pool in the database; stop serving removed ones."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        async with self.db.conn() as conn:
            # queue -> how to build its activities (only built for queues not served yet)
            everyone = await hosts.list_by_hypervisor(conn, "simulator")
            self.hosts = {h.name: (h.id, str(h.status)) for h in everyone}
            cut = self.down | self.partitioned
            tag = self.settings.sim_shared_queue
            # Hosts on another fleet's shared queue are that fleet's.
            sim_hosts = [
                h for h in everyone if h.name not in cut and h.agent_queue in (None, tag or None)
            ]
            own = [h for h in sim_hosts if h.agent_queue is None]
            wanted: dict[str, Callable[[], list[Any]]] = {
                compute_queue(h.name): functools.partial(self._compute_activities, h.name)
                for h in own
            }
            # A network agent for hosts of zones with physical networks (the others'
            # NICs are never plugged by one): no idle pollers on a large simulated fleet.
            networked = await hosts.zones_with_physical_networks(conn)
            for h in own:
                if h.zone_id in networked and h.name not in self.real_network:
                    wanted[network_queue(h.name)] = functools.partial(
                        self._network_activities, h.name
                    )
            shared = [h for h in sim_hosts if h.agent_queue is not None]
            self.shared = {
                "compute": {h.name for h in shared},
                "network": {
                    h.name
                    for h in shared
                    if h.zone_id in networked and h.name not in self.real_network
                },
            }
            for subsystem, served in self.shared.items():
                self.dispatch[subsystem].keep({h.name for h in everyone})
                if served:
                    wanted[shared_queue(subsystem, tag)] = self.dispatch[subsystem].activities
            for p in await hosts.list_pools_by_driver(conn, "simulator"):
                if p.name in self.down:
                    continue
                wanted[storage_queue(p.name)] = functools.partial(
                    self._storage_activities, p.name, p.capacity_bytes
                )
        for queue in wanted.keys() - set(self.tasks):
            self.stops[queue] = asyncio.Event()
            self.tasks[queue] = asyncio.create_task(
                self._serve(queue, wanted[queue](), self.stops[queue])
            )
            log.info("simulated agent polling %s", queue)
        for name in set(self.tasks) - wanted.keys():
            self.stops.pop(name).set()
            await self.tasks.pop(name)
        self._refreshes += 1

    async def close(self) -> None:
        for ev in self.stops.values():
            ev.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        self.stops.clear()


async def _heartbeats(fleet: SimulatorFleet, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await fleet.heartbeat()
        except Exception:
            log.exception("simulated heartbeats failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), fleet.settings.sim_heartbeat_s)


async def run_fleet(fleet: SimulatorFleet, stop: asyncio.Event, every_s: float = 1.0) -> None:
    beats = (
        asyncio.create_task(_heartbeats(fleet, stop)) if fleet.settings.sim_heartbeat_s else None
    )
    try:
        while not stop.is_set():
            try:
                await fleet.refresh()
            except Exception:
                log.exception("simulator fleet refresh failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        if beats is not None:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
        await fleet.close()


async def run(settings: Settings, stop: asyncio.Event) -> None:
    db = await Database.connect(settings.resolved_database_url(), max_size=4, wait_s=60)
    client = await connect_to(settings, wait_s=30)
    me = directory.instance(settings, "simulator-agent")
    leaving = asyncio.Event()  # set however this ends
    presence = (
        asyncio.create_task(directory.present(db, me, leaving))
        if settings.directory_register
        else None
    )
    try:
        await run_fleet(SimulatorFleet(client, db, settings), stop)
    finally:
        leaving.set()
        if presence is not None:
            await presence
        await db.close()
