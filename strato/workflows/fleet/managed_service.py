"""ManagedService: one long-running reconciler per managed service (an entity
workflow, ``managed-service:<id>``). Each round it observes the service and its
instances, has each running instance's host check its guest, records the outcomes (and
the directory), decides (:mod:`strato.domain.fleet.plan`, pure) and applies the plan
through the command layer. It sleeps ``health.interval_s`` between rounds, or until a
``wake`` signal (the definition changed). It continues as new every few hundred rounds,
and ends once its deleted service has no instance left.

Its state lives in PostgreSQL, not in the run: a killed orchestrator's successor resumes
the round it was in (a deploy's Idempotency-Key is fixed by the run, so a repeated apply
deploys nothing twice), and a lost run is started again by the orchestrator's sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from strato.domain.fleet.flows import (
        FLEET_APPLY,
        FLEET_HEALTH,
        FLEET_OBSERVE,
        MANAGED_SERVICE,
        PROBE_GUEST,
        WAKE,
        ApplyInput,
        GuestProbe,
        HealthInput,
        Observation,
        ProbeOutcome,
        ServiceRef,
    )
    from strato.domain.fleet.plan import Observed, decide
    from strato.workflows.common import calls

ROUNDS_PER_RUN = 200
DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
PROBE_RETRY = RetryPolicy(maximum_attempts=1)


@workflow.defn(name=MANAGED_SERVICE.name)
class ManagedServiceWorkflow:
    def __init__(self) -> None:
        self.woken = False
        self.seen: dict[str, object] = {}

    @workflow.signal(name=WAKE)
    def wake(self) -> None:
        self.woken = True

    @workflow.query(name="status")
    def status(self) -> dict[str, object]:
        """What the last round saw and did."""
        return self.seen

    async def _probe(self, obs: Observation, inst: Observed) -> ProbeOutcome:
        assert obs.service is not None and inst.host_queue is not None
        check = obs.service.health
        probe = GuestProbe(
            name=inst.vm_name,
            address=inst.address,
            kind=check.kind,
            port=check.port,
            path=check.path,
            timeout_s=check.timeout_s,
        )
        try:
            return await calls.remote(
                PROBE_GUEST,
                probe,
                queue=inst.host_queue,
                timeout=timedelta(seconds=check.timeout_s + 10),
                retry=PROBE_RETRY,
                reach=timedelta(seconds=10),
            )
        except ActivityError as err:
            return ProbeOutcome(ok=False, detail=f"its host did not check it ({err.cause or err})")

    async def _round(self, ref: ServiceRef) -> tuple[bool, float]:
        """One round; (whether the service is gone, seconds to the next round)."""
        obs = await calls.local(FLEET_OBSERVE, ref, timeout=timedelta(seconds=30), retry=DATA_RETRY)
        if obs.service is None:
            return True, 0.0
        # Each instance is checked once per interval, however often rounds run.
        every = obs.service.health.interval_s * 0.9
        probed = [
            i
            for i in obs.instances
            if i.host_queue
            and i.health != "retiring"
            and (i.since_check_s is None or i.since_check_s >= every)
        ]
        outcomes = await asyncio.gather(*(self._probe(obs, i) for i in probed))
        obs = await calls.local(
            FLEET_HEALTH,
            HealthInput(
                service_id=ref.service_id,
                outcomes={str(i.vm_id): o for i, o in zip(probed, outcomes, strict=True)},
            ),
            timeout=timedelta(seconds=30),
            retry=DATA_RETRY,
        )
        svc = obs.service
        if svc is None:
            return True, 0.0
        plan = decide(svc, obs.instances, obs.metric, obs.since_scaled_s, obs.since_failed_s)
        applied = await calls.remote(
            FLEET_APPLY,
            ApplyInput(
                service_id=ref.service_id,
                plan=plan,
                deploy_keys=[str(workflow.uuid4()) for _ in range(plan.deploy)],
                service=svc,
            ),
            queue=workflow.info().task_queue,
            timeout=timedelta(minutes=10),
            heartbeat=timedelta(seconds=15),
            retry=DATA_RETRY,
        )
        self.seen = {
            "release": svc.release,
            "desired": plan.desired,
            "instances": len([i for i in obs.instances if i.health != "retiring"]),
            "serving": sum(1 for i in obs.instances if i.serving),
            "metric": obs.metric,
            "deployed": [str(v) for v in applied.deployed],
            "retired": [r.model_dump(mode="json") for r in plan.retire],
            "refused": applied.refused,
        }
        busy = bool(plan.retire or plan.deploy or plan.scale_reason) or any(
            i.health == "pending" for i in obs.instances
        )
        # While instances change, look again soon; otherwise at the check interval.
        pause = min(svc.health.interval_s, 1.0) if busy else svc.health.interval_s
        return applied.gone, pause

    @workflow.run
    async def run(self, ref: ServiceRef) -> None:
        for n in range(ROUNDS_PER_RUN):
            self.woken = False
            gone, pause = await self._round(ref)
            if gone:
                return
            if n + 1 < ROUNDS_PER_RUN and not workflow.info().is_continue_as_new_suggested():
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self.woken, timeout=pause)
                continue
            break
        workflow.continue_as_new(ServiceRef(service_id=ref.service_id, rounds=ref.rounds + n + 1))
