"""HostHa: the investigation of one outage of a host, and its HA (CloudStack's
investigators and HA manager, as one durable run; see :mod:`strato.domain.fabric.ha`).

1. While the outage is current (the host is still Alert or Disconnected for it), a
   neighbour of its cluster probes the host's agent; with no neighbour able to, the
   orchestrator does. A probe that cannot tell (a simulated host seen from outside its
   fleet) changes nothing: the host stays as it is and is probed again.
2. An agent that answers is alive: the host is Disconnected and nothing is restarted.
3. Two probes in a row that find no agent, ``confirm_s`` apart, make the host Down: its
   VMs are fenced (Stopped; their domains destroyed by its agent if it returns).
4. HA VMs are started elsewhere as ``vm.start`` operations; those that cannot be placed
   go to Error with an alert.

Any process may die at any point: every step is idempotent and guarded by the outage,
so the run resumes where it was and a step of an outage that ended changes nothing.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.fabric.ha import (
        HA_AWAIT,
        HA_FAILED,
        HA_NETWORKS,
        HA_RESTART,
        HOST_ALIVE,
        HOST_DECLARE_DOWN,
        HOST_HA,
        HOST_INVESTIGATION,
        PROBE_HOST,
        PROBE_HOST_CENTRAL,
        DeclareDownResult,
        HaAwaitInput,
        HaAwaitResult,
        HaFailedInput,
        HaNetworksInput,
        HaRestartInput,
        HaRestartResult,
        HostHaInput,
        HostHaResult,
        HostVerdictInput,
        Investigation,
        InvestigationInput,
        ProbeInput,
        ProbeResult,
    )
    from strato.domain.fabric.monitor import HostStatusNote
    from strato.domain.ids import compute_queue
    from strato.domain.steps import Step
    from strato.workflows.common import calls
    from strato.workflows.common.search_attributes import HOST_STATUS, typed

DATA_TIMEOUT = timedelta(seconds=30)
DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,  # the data service is eventually there; a monitor never gives up
)
_ONCE = RetryPolicy(maximum_attempts=1)
_PROBE_TIMEOUT_S = 3.0
_MAX_CHECKS = 200  # then continue as new (a long partition probes for hours)
TELLS_MONITOR = "ha-tells-monitor"
MOVES_ROUTERS = "ha-moves-routers"
I = TypeVar("I")  # noqa: E741 - a step's input type


@workflow.defn(name=HOST_HA.name)
class HostHaWorkflow:
    def __init__(self) -> None:
        self.stage = "investigating"

    @workflow.query(name="stage")
    def current_stage(self) -> str:
        return self.stage

    @workflow.run
    async def run(self, inp: HostHaInput) -> HostHaResult:
        checks, missed, told = inp.checks, 0, ""
        while True:
            where = await calls.local(
                HOST_INVESTIGATION,
                InvestigationInput(host_id=inp.host_id, outage=inp.outage),
                timeout=DATA_TIMEOUT,
                retry=DATA_RETRY,
            )
            if not where.current:
                return HostHaResult(outcome=_ended(where.status), status=where.status)
            probe = await self._probe(inp, where)
            checks += 1
            verdict = HostVerdictInput(
                host_id=inp.host_id,
                outage=inp.outage,
                reachable=probe.reachable,
                prober=probe.prober,
                detail=probe.detail,
            )
            if probe.reachable:
                missed = 0
                self.stage = "disconnected (its agent answers)"
                status = await calls.local(
                    HOST_ALIVE, verdict, timeout=DATA_TIMEOUT, retry=DATA_RETRY
                )
                if status != told:
                    await self._tell_monitor(inp, status)
                    told = status
            elif probe.conclusive:
                missed += 1
                self.stage = f"no answer from its agent ({missed} of 2)"
                if missed >= 2:
                    return await self._down(inp, verdict)
            if checks >= _MAX_CHECKS:
                workflow.continue_as_new(inp.model_copy(update={"checks": 0}))
            await workflow.sleep(timedelta(seconds=inp.confirm_s))

    async def _tell_monitor(self, inp: HostHaInput, status: str) -> None:
        """The host's monitor shows the status this investigation set; so does this run,
        as its ``StratoHostStatus`` in the Temporal UI (a shard watches many hosts).
        Runs since the patch."""
        if inp.monitor_id:
            workflow.upsert_search_attributes([HOST_STATUS.value_set(status)])
            monitor = workflow.get_external_workflow_handle(inp.monitor_id)
            with contextlib.suppress(FailureError):  # another shard has the host now
                await monitor.signal(
                    "host-status", HostStatusNote(host_id=inp.host_id, status=status)
                )
            return
        if not workflow.patched(TELLS_MONITOR):
            return
        monitor = workflow.get_external_workflow_handle(f"host-monitor:{inp.host_id}")
        # No monitor (the host was removed): nothing to show it on.
        with contextlib.suppress(FailureError):
            await monitor.signal("status", status)

    async def _probe(self, inp: HostHaInput, where: Investigation) -> ProbeResult:
        """A neighbour's probe; the first that runs counts (a neighbour that is itself
        gone cannot take it: the next is asked). None of them: the orchestrator's."""
        ask = ProbeInput(
            host_name=inp.host_name, endpoint=where.endpoint, timeout_s=_PROBE_TIMEOUT_S
        )
        for neighbour in where.neighbours:
            try:
                return await calls.remote(
                    PROBE_HOST,
                    ask,
                    queue=compute_queue(neighbour),
                    timeout=timedelta(seconds=_PROBE_TIMEOUT_S + 5),
                    reach=timedelta(seconds=5),
                    retry=_ONCE,
                )
            except ActivityError:
                continue
        central: ProbeResult = await workflow.execute_activity(
            PROBE_HOST_CENTRAL.name,
            ask,
            result_type=ProbeResult,
            start_to_close_timeout=timedelta(seconds=_PROBE_TIMEOUT_S + 5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return central

    async def _down(self, inp: HostHaInput, verdict: HostVerdictInput) -> HostHaResult:
        down = await calls.local(HOST_DECLARE_DOWN, verdict, timeout=DATA_TIMEOUT, retry=DATA_RETRY)
        if not down.declared:
            return HostHaResult(outcome=_ended(down.status), status=down.status)
        await self._tell_monitor(inp, down.status)
        result = HostHaResult(outcome="down", status=down.status, stopped=down.stopped)
        # The routers first: a network none of whose VMs is HA needs its router back now,
        # not once the HA VMs have started (a restart and a boot on one network converge).
        networks = await self._restart_networks(inp, down)
        if not down.ha_vms:
            self.stage = "down (no HA VM)"
        else:
            self.stage = f"starting {len(down.ha_vms)} HA VM(s) elsewhere"
            ended = await _ended_all(
                await _start(
                    HA_RESTART,
                    HaRestartInput(
                        host_id=inp.host_id,
                        host_name=inp.host_name,
                        outage=inp.outage,
                        vm_ids=down.ha_vms,
                    ),
                )
            )
            result.restarted = ended.succeeded
            if ended.failed:
                marked = await calls.local(
                    HA_FAILED,
                    HaFailedInput(
                        host_id=inp.host_id,
                        host_name=inp.host_name,
                        outage=inp.outage,
                        failed=ended.failed,
                    ),
                    timeout=DATA_TIMEOUT,
                    retry=DATA_RETRY,
                )
                result.failed = marked.names
            self.stage = "done"
        if networks:
            result.networks = (await _ended_all(networks)).succeeded
        return result

    async def _restart_networks(self, inp: HostHaInput, down: DeclareDownResult) -> dict[str, str]:
        """The networks whose router ran on the host, each restarted (its router rebuilt
        on an Up host with its ports) as an operation of its own. Runs since the patch.
        Returns the operations started (network id -> workflow id)."""
        if not down.networks or not workflow.patched(MOVES_ROUTERS):
            return {}
        return await _start(
            HA_NETWORKS,
            HaNetworksInput(host_id=inp.host_id, outage=inp.outage, network_ids=down.networks),
        )


async def _start(step: Step[I, HaRestartResult], arg: I) -> dict[str, str]:
    """Operations started through the command layer by ``step`` (on the orchestrator):
    what each was started for -> its workflow id."""
    started: HaRestartResult = await workflow.execute_activity(
        step.name,
        arg,
        result_type=step.result,
        start_to_close_timeout=timedelta(minutes=2),
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=DATA_RETRY,
    )
    return started.operations


async def _ended_all(operations: dict[str, str]) -> HaAwaitResult:
    """The operations' ends (heartbeating while they run)."""
    ended: HaAwaitResult = await workflow.execute_activity(
        HA_AWAIT.name,
        HaAwaitInput(operations=operations),
        result_type=HA_AWAIT.result,
        start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=DATA_RETRY,
    )
    return ended


async def investigate(
    host_id: UUID,
    host_name: str,
    outage: int,
    window_s: float,
    *,
    status: str = "",
    monitor_id: str = "",
) -> None:
    """Start the outage's investigation as its own run, abandoned by the monitor that
    starts it (it outlives the monitor's continue-as-new); ``status``: the host's, shown
    as its ``StratoHostStatus`` from the start."""
    inp = HostHaInput(
        host_id=host_id,
        host_name=host_name,
        outage=outage,
        window_s=window_s,
        confirm_s=max(window_s / 3, 1.0),
        monitor_id=monitor_id,
    )
    attributes: dict[str, str] = {
        "StratoResourceType": "host",
        "StratoResourceId": str(inp.host_id),
        "StratoOperation": "ha",
        "StratoHost": inp.host_name,
    }
    if status:
        attributes["StratoHostStatus"] = status
    investigation = await workflow.start_child_workflow(
        HOST_HA.name,
        inp,
        id=f"host-ha:{inp.host_id}:{inp.outage}",
        parent_close_policy=ParentClosePolicy.ABANDON,
        search_attributes=typed(attributes),
    )
    # Its end is its own (seen in its history): not awaited, not an error here.
    investigation.add_done_callback(lambda done: done.cancelled() or done.exception())


def _ended(status: str) -> str:
    """How an investigation ends when its outage is no longer current."""
    return {"Up": "recovered", "Removed": "gone"}.get(status, "superseded")
