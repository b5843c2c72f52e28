"""HostMonitors: one shard of host monitoring, a long-running entity workflow that watches
many hosts (:mod:`strato.domain.fabric.monitor` says which and why).

Batches of heartbeats arrive as ``beats`` signals; only each host's newest matters. A
batch is recorded in one data step (the quiet beats together, the others one by one:
VM sync, fencing, Up again), and what each host's agent asks back is kept for the
``hosts`` query. One timer watches the host that will fall silent first: a host silent
for its window goes to Alert, and the outage that begins is investigated by its own
HostHa run (abandoned by this one: it outlives a continue-as-new), which tells this
shard the status it reaches. The shard continues as new before its history grows long,
carrying what it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric.ha import HOST_SILENT, HostSilentInput
    from strato.domain.fabric.monitor import (
        HOST_HEARTBEATS,
        HOST_MONITORS,
        PREFIX,
        ROUTERS_REMOVED,
        HeartbeatsInput,
        HeartbeatsResult,
        HostBeat,
        HostMonitorsInput,
        HostStatusNote,
        HostView,
        RoutersRemovedInput,
        WatchedHost,
    )
    from strato.domain.network.specs import RouterFence
    from strato.domain.network.steps import DESTROY_ROUTER_AT
    from strato.workflows.common import calls
    from strato.workflows.fabric.host_ha import DATA_RETRY, DATA_TIMEOUT, investigate
    from strato.workflows.network.devices import on_agent

# A batch is recorded in chunks of this many beats, concurrently (each a data step).
CHUNK = 250
_MAX_EVENTS = 2_000
_MAX_BYTES = 4 * 1024 * 1024


@workflow.defn(name=HOST_MONITORS.name)
class HostMonitorsWorkflow:
    @workflow.init
    def __init__(self, inp: HostMonitorsInput) -> None:
        # From the input here, not in run: a signal in the first activation (a forget
        # after a continue-as-new) runs before run does.
        self.hosts: dict[str, WatchedHost] = {str(h.host_id): h for h in inp.hosts}
        self.pending: dict[str, HostBeat] = {}  # the newest beat of each host not recorded
        self.unfencing: set[str] = set()  # hosts whose stale routers are being removed

    @workflow.signal(name="beats")
    def beats(self, beats: list[HostBeat]) -> None:
        for b in beats:
            self.pending[str(b.host_id)] = b

    @workflow.signal(name="host-status")
    def host_status(self, note: HostStatusNote) -> None:
        """The status an investigation set (Disconnected, Down): shown until the host's
        next heartbeat says otherwise."""
        host = self.hosts.get(str(note.host_id))
        if host is not None:
            host.status = note.status

    @workflow.signal(name="forget")
    def forget(self, host_id: str) -> None:
        """Another shard watches the host now (its agent beats there)."""
        self.hosts.pop(host_id, None)
        self.pending.pop(host_id, None)

    @workflow.query(name="hosts")
    def view(self, host_ids: list[str]) -> dict[str, HostView]:
        """What the agents ask for their hosts (hosts this shard does not watch are left
        out)."""
        return {
            i: HostView(status=h.status, watermark=h.watermark, pools=h.pools, fence=h.fence)
            for i in host_ids
            if (h := self.hosts.get(i)) is not None
        }

    @workflow.query(name="summary")
    def summary(self) -> dict[str, int]:
        """How many hosts it watches, by status."""
        out: dict[str, int] = {}
        for h in self.hosts.values():
            out[h.status or "?"] = out.get(h.status or "?", 0) + 1
        return out

    def _due(self) -> datetime | None:
        """When the first watched host falls silent (None: none can)."""
        times = [
            h.last_seen + timedelta(seconds=h.window_s) for h in self.hosts.values() if not h.silent
        ]
        return min(times) if times else None

    def _reported_unknown(self, beats: list[HostBeat]) -> dict[str, list[str]]:
        """The unknown domains reported already, of the hosts beating in ``beats``."""
        out = {}
        for b in beats:
            host = self.hosts.get(str(b.host_id))
            if host is not None and host.unknown:
                out[str(b.host_id)] = host.unknown
        return out

    async def _record_chunk(self, beats: list[HostBeat]) -> None:
        result: HeartbeatsResult = await calls.local(
            HOST_HEARTBEATS,
            HeartbeatsInput(
                monitor_id=workflow.info().workflow_id,
                beats=beats,
                unknown=self._reported_unknown(beats),
            ),
            timeout=DATA_TIMEOUT,
            retry=DATA_RETRY,
        )
        now = workflow.now()
        moved: list[tuple[str, str]] = []
        for b in beats:
            key = str(b.host_id)
            r = result.results.get(key)
            if r is None or r.gone:
                self.hosts.pop(key, None)
                continue
            if not r.accepted:
                continue  # an agent that no longer owns the host
            host = self.hosts.get(key) or WatchedHost(
                host_id=b.host_id, host_name=b.host_name, window_s=b.window_s, last_seen=now
            )
            host.host_name, host.window_s, host.last_seen = b.host_name, b.window_s, now
            host.silent = b.heartbeat.stopping  # a clean stop is not an outage
            host.status, host.unknown, host.watermark = r.status, r.unknown, r.watermark
            host.pools, host.fence = r.pools, r.fence
            self.hosts[key] = host
            if r.moved_from:
                moved.append((r.moved_from, key))
            if r.stale_routers and key not in self.unfencing:
                self.unfencing.add(key)
                task = asyncio.ensure_future(self._remove_routers(host, r.stale_routers))
                task.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.gather(*(self._release(monitor, key) for monitor, key in moved))

    async def _remove_routers(self, host: WatchedHost, fences: list[RouterFence]) -> None:
        """A host back from Down removes the routers it ran then (they run elsewhere now:
        two on one segment would answer for one gateway address); each one its network
        agent removed is unfenced. Beside the heartbeats, never in their way; one that
        fails is named again by the host's next heartbeat."""
        try:
            removed = []
            for fence in fences:
                try:
                    await on_agent(DESTROY_ROUTER_AT, host.host_name, fence, best_effort=True)
                except FailureError:
                    continue
                removed.append(fence.network)
            if removed:
                await calls.local(
                    ROUTERS_REMOVED,
                    RoutersRemovedInput(host_id=host.host_id, networks=removed),
                    timeout=DATA_TIMEOUT,
                    retry=DATA_RETRY,
                )
        finally:
            self.unfencing.discard(str(host.host_id))

    async def _release(self, monitor: str, host_id: str) -> None:
        """The monitor that watched the host before lets it go: a shard forgets it, a
        per-host HostMonitor of before ends. One that no longer runs has nothing to
        let go."""
        handle = workflow.get_external_workflow_handle(monitor)
        with contextlib.suppress(FailureError):
            if monitor.startswith(PREFIX):
                await handle.signal("forget", host_id)
            else:
                await handle.signal("retire")

    async def _silent(self, host: WatchedHost) -> None:
        """No heartbeat for its window: an Up host goes to Alert, and the outage that
        begins is investigated by its own run."""
        host.silent = True
        result = await calls.local(
            HOST_SILENT,
            HostSilentInput(host_id=host.host_id, silent_s=host.window_s),
            timeout=DATA_TIMEOUT,
            retry=DATA_RETRY,
        )
        key = str(host.host_id)
        if result.gone or result.elsewhere:
            self.hosts.pop(key, None)
            return
        host.status = result.status
        if not result.outage:
            return
        await investigate(
            host.host_id,
            host.host_name,
            result.outage,
            host.window_s,
            status=result.status,
            monitor_id=workflow.info().workflow_id,
        )

    def _woken(self, timer: asyncio.Task[None] | None) -> Callable[[], bool]:
        """Beats to record, or the timer fired."""
        return lambda: bool(self.pending) or (timer is not None and timer.done())

    def _long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > _MAX_EVENTS
            or info.get_current_history_size() > _MAX_BYTES
        )

    @workflow.run
    async def run(self, inp: HostMonitorsInput) -> None:
        # One timer, for the first host to fall silent. Moved only when a host is due
        # sooner than it fires; one that fires early finds nothing silent and is set
        # again (beats every third of a window cost no timer events).
        timer: asyncio.Task[None] | None = None
        timer_at: datetime | None = None
        while True:
            if timer is not None and timer.done():
                timer, timer_at = None, None
            due = self._due()
            if due is not None and (timer_at is None or timer_at > due):
                if timer is not None:
                    timer.cancel()
                wait = max((due - workflow.now()).total_seconds(), 0.001)
                timer, timer_at = asyncio.ensure_future(workflow.sleep(wait)), due
            await workflow.wait_condition(self._woken(timer))
            if self.pending:
                batch = list(self.pending.values())
                self.pending.clear()
                await asyncio.gather(
                    *(self._record_chunk(batch[i : i + CHUNK]) for i in range(0, len(batch), CHUNK))
                )
            now = workflow.now()
            overdue = [  # a host with a beat waiting is not silent: it is recorded next
                h
                for k, h in self.hosts.items()
                if not h.silent
                and k not in self.pending
                and h.last_seen + timedelta(seconds=h.window_s) <= now
            ]
            await asyncio.gather(*(self._silent(h) for h in overdue))
            if self._long() and not self.pending:
                workflow.continue_as_new(
                    HostMonitorsInput(shard=inp.shard, hosts=list(self.hosts.values()))
                )
