"""HostMonitor: one long-running entity workflow per host, fed by its agent's heartbeats.

Superseded by the shards of :mod:`strato.workflows.fabric.host_monitors`; kept for the
runs of before: one ends when its host's shard takes the host over (its ``retire``
signal) or when it finds, on a silence, that another monitor watches the host.

Each heartbeat carries the hypervisor's VM report; the monitor records it (the host is
Up while heartbeats arrive) and reconciles the report with the database (VM sync). The
agent asks the ``watermark`` query before it lists its domains: the report then carries a
number the database issued before it was taken, which orders it against VM changes. When
no heartbeat arrives for ``window_s`` an Up host goes to Alert (planners stop choosing
it) and a HostHa run investigates that outage (:mod:`strato.workflows.fabric.host_ha`);
the next heartbeat brings it back Up, unless it was declared Down: then the heartbeat's
answer (the ``fence`` query) names the fenced domains its agent must destroy first. A
host whose agent stopped cleanly is Disconnected, and is not investigated. The workflow
ends when the host is removed and continues as new before its history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric import flows
    from strato.domain.fabric.ha import HOST_SILENT, HostSilentInput
    from strato.domain.fabric.payloads import (
        HostHeartbeat,
        HostHeartbeatInput,
        HostHeartbeatLostInput,
        HostHeartbeatResult,
        HostMonitorInput,
        PoolRef,
    )
    from strato.domain.fabric.steps import HOST_HEARTBEAT, HOST_HEARTBEAT_LOST
    from strato.workflows.common import calls
    from strato.workflows.common.search_attributes import HOST_STATUS
    from strato.workflows.fabric.host_ha import DATA_RETRY, DATA_TIMEOUT, investigate

_MAX_HISTORY = 2_000
# Silence makes an Up host Alert and starts its investigation (before: Disconnected).
INVESTIGATES = "silence-investigates"
SHOWS_STATUS = "host-status-attribute"


@workflow.defn(name=flows.HOST_MONITOR.name)
class HostMonitorWorkflow:
    def __init__(self) -> None:
        self.pending: list[HostHeartbeat] = []
        self.status = ""
        self.unknown: list[str] = []
        self.corrected = 0
        self.watermark: int | None = None
        self.pools: list[PoolRef] | None = None
        self.fence: list[str] = []
        self.retired = False

    @workflow.signal(name="retire")
    def retire(self) -> None:
        """Another monitor watches the host now: this run ends."""
        self.retired = True

    @workflow.signal(name="heartbeat")
    def heartbeat(self, hb: HostHeartbeat) -> None:
        self.pending.append(hb)

    @workflow.signal(name="status")
    def status_from_investigation(self, status: str) -> None:
        """The status its outage's investigation set (Disconnected, Down): shown until
        the next heartbeat says otherwise."""
        self._show(status)

    @workflow.query(name="status")
    def current(self) -> dict[str, object]:
        return {"status": self.status, "unknown": self.unknown, "corrected": self.corrected}

    @workflow.query(name="watermark")
    def last_watermark(self) -> int | None:
        """What the agent asks before it lists its domains: a number the database issued
        while recording the last heartbeat, so before the report the agent takes next."""
        return self.watermark

    @workflow.query(name="pools")
    def current_pools(self) -> list[PoolRef] | None:
        """The file pools the agent should serve, as of the last heartbeat (None: not
        known yet in this run)."""
        return self.pools

    @workflow.query(name="fence")
    def current_fence(self) -> list[str]:
        """The domains the agent must destroy before its host is Up again (it was Down),
        as of the last heartbeat."""
        return self.fence

    def _show(self, status: str) -> None:
        """The host's status, kept for the ``status`` query and (runs since the patch)
        shown in the Temporal UI as ``StratoHostStatus``, written when it changes."""
        if status and status != self.status and workflow.patched(SHOWS_STATUS):
            workflow.upsert_search_attributes([HOST_STATUS.value_set(status)])
        self.status = status

    async def _silent(self, inp: HostMonitorInput) -> bool:
        """No heartbeat for the window: an Up host goes to Alert, and the outage that
        begins is investigated by its own run (abandoned by this one: it outlives a
        continue-as-new)."""
        result = await calls.local(
            HOST_SILENT,
            HostSilentInput(host_id=inp.host_id, silent_s=inp.window_s),
            timeout=DATA_TIMEOUT,
            retry=DATA_RETRY,
        )
        if result.elsewhere:
            return False
        self._show(result.status)
        if result.outage:
            await investigate(inp.host_id, inp.host_name, result.outage, inp.window_s)
        return True

    @workflow.run
    async def run(self, inp: HostMonitorInput) -> None:
        self.unknown = list(inp.reported_unknown)
        self.watermark = inp.watermark
        silent = False
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.pending) or self.retired,
                    timeout=timedelta(seconds=inp.window_s),
                )
            except TimeoutError:
                if not silent and workflow.patched(INVESTIGATES):
                    if not await self._silent(inp):
                        return  # the host's shard watches it
                    silent = True
                elif not silent:
                    status = await calls.local(
                        HOST_HEARTBEAT_LOST,
                        HostHeartbeatLostInput(host_id=inp.host_id, silent_s=inp.window_s),
                        timeout=DATA_TIMEOUT,
                        retry=DATA_RETRY,
                    )
                    if status is None:
                        return  # the host was removed
                    self.status, silent = status, True
                continue
            if self.retired:
                return
            # Only the newest report matters: older ones describe a past the newest covers.
            hb = self.pending[-1]
            self.pending.clear()
            result: HostHeartbeatResult = await calls.local(
                HOST_HEARTBEAT,
                HostHeartbeatInput(
                    host_id=inp.host_id, heartbeat=hb, reported_unknown=self.unknown
                ),
                timeout=DATA_TIMEOUT,
                retry=DATA_RETRY,
            )
            if result.gone:
                return
            if result.accepted:
                self.unknown = result.unknown
                self._show(result.status)
                self.corrected += len(result.corrected)
                self.watermark = result.watermark
                self.pools = result.pools
                self.fence = result.fence
                silent = hb.stopping
            if workflow.info().get_current_history_length() > _MAX_HISTORY and not self.pending:
                workflow.continue_as_new(
                    HostMonitorInput(
                        host_id=inp.host_id,
                        host_name=inp.host_name,
                        window_s=inp.window_s,
                        reported_unknown=self.unknown,
                        watermark=self.watermark,
                    )
                )
