"""HostMonitor: one long-running entity workflow per host, fed by its agent's heartbeats.

Each heartbeat carries the hypervisor's VM report; the monitor records it (the host is
Up while heartbeats arrive) and reconciles the report with the database (VM sync). The
agent asks the ``watermark`` query before it lists its domains: the report then carries a
number the database issued before it was taken, which orders it against VM changes. When
no heartbeat arrives for ``window_s`` the host becomes Disconnected, so planners stop
choosing it; the next heartbeat brings it back Up. The workflow ends when the host is
removed and continues as new before its history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric import flows
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

_TIMEOUT = timedelta(seconds=30)
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,  # the data service is eventually there; a monitor never gives up
)
_MAX_HISTORY = 2_000


@workflow.defn(name=flows.HOST_MONITOR.name)
class HostMonitorWorkflow:
    def __init__(self) -> None:
        self.pending: list[HostHeartbeat] = []
        self.status = ""
        self.unknown: list[str] = []
        self.corrected = 0
        self.watermark: int | None = None
        self.pools: list[PoolRef] | None = None

    @workflow.signal(name="heartbeat")
    def heartbeat(self, hb: HostHeartbeat) -> None:
        self.pending.append(hb)

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

    @workflow.run
    async def run(self, inp: HostMonitorInput) -> None:
        self.unknown = list(inp.reported_unknown)
        self.watermark = inp.watermark
        silent = False
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.pending), timeout=timedelta(seconds=inp.window_s)
                )
            except TimeoutError:
                if not silent:
                    status = await calls.local(
                        HOST_HEARTBEAT_LOST,
                        HostHeartbeatLostInput(host_id=inp.host_id, silent_s=inp.window_s),
                        timeout=_TIMEOUT,
                        retry=_RETRY,
                    )
                    if status is None:
                        return  # the host was removed
                    self.status, silent = status, True
                continue
            # Only the newest report matters: older ones describe a past the newest covers.
            hb = self.pending[-1]
            self.pending.clear()
            result: HostHeartbeatResult = await calls.local(
                HOST_HEARTBEAT,
                HostHeartbeatInput(
                    host_id=inp.host_id, heartbeat=hb, reported_unknown=self.unknown
                ),
                timeout=_TIMEOUT,
                retry=_RETRY,
            )
            if result.gone:
                return
            if result.accepted:
                self.status, self.unknown = result.status, result.unknown
                self.corrected += len(result.corrected)
                self.watermark = result.watermark
                self.pools = result.pools
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
