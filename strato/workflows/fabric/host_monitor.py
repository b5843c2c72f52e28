"""HostMonitor: one long-running entity workflow per host, fed by its agent's heartbeats.

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
from temporalio.common import RetryPolicy
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric import flows
    from strato.domain.fabric.ha import HOST_HA, HOST_SILENT, HostHaInput, HostSilentInput
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
    from strato.workflows.common.search_attributes import HOST_STATUS, typed

DATA_TIMEOUT = timedelta(seconds=30)
DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,  # the data service is eventually there; a monitor never gives up
)
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

    async def _silent(self, inp: HostMonitorInput) -> None:
        """No heartbeat for the window: an Up host goes to Alert, and the outage that
        begins is investigated by its own run (abandoned by this one: it outlives a
        continue-as-new)."""
        result = await calls.local(
            HOST_SILENT,
            HostSilentInput(host_id=inp.host_id, silent_s=inp.window_s),
            timeout=DATA_TIMEOUT,
            retry=DATA_RETRY,
        )
        self._show(result.status)
        if result.outage:
            investigation = await workflow.start_child_workflow(
                HOST_HA.name,
                HostHaInput(
                    host_id=inp.host_id,
                    host_name=inp.host_name,
                    outage=result.outage,
                    window_s=inp.window_s,
                    confirm_s=max(inp.window_s / 3, 1.0),
                ),
                id=f"host-ha:{inp.host_id}:{result.outage}",
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=typed(
                    {
                        "StratoResourceType": "host",
                        "StratoResourceId": str(inp.host_id),
                        "StratoOperation": "ha",
                        "StratoHost": inp.host_name,
                    }
                ),
            )
            # Its end is its own (seen in its history): not awaited, not an error here.
            investigation.add_done_callback(lambda done: done.cancelled() or done.exception())

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
                if not silent and workflow.patched(INVESTIGATES):
                    await self._silent(inp)
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
