"""One round of a managed service's reconciler, decided: what to retire, how many to
deploy, what the desired count becomes. Pure (no clock, no I/O), so the workflow can
decide deterministically and a test can try every case.

The rules, in order:

1. ``desired`` follows the autoscale policy (one step per cooldown, within bounds) and
   always stays within the bounds.
2. An instance whose VM is lost (stopped, in error, destroyed or gone, with no operation
   on it), that failed its health check ``unhealthy_after`` times, or whose VM is not
   running ``grace_s`` after it was made, is retired (and so replaced). A deleted
   service retires everything.
3. Instances beyond ``desired`` are retired, those that do not serve first, then the old
   release's, then the youngest; never so many that fewer than ``desired`` serve.
   During a rollout with ``max_unavailable`` 0, one extra instance (a surge) is allowed.
4. A rollout retires the old release's instances that do not serve, then as many serving
   ones as keep ``desired - max_unavailable`` serving.
5. What is missing (to ``desired``, plus the surge) is deployed at the current release,
   unless deploys keep failing (instances that never served): after the third in a row,
   the next waits a check interval, doubling each time up to 5 minutes.

Instances an operation holds (being deployed, say) are never picked: their operation
ends first.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.fleet.models import Autoscale, InstanceHealth, ManagedService

LOST_STATES = frozenset({"Stopped", "Error", "Destroyed", "Expunged"})


class Observed(BaseModel):
    """One instance as a round sees it."""

    vm_id: UUID
    vm_name: str  # its hypervisor name
    release: str
    health: InstanceHealth
    failures: int = 0
    vm_state: str | None = None  # None: the VM is gone
    locked: bool = False  # an operation holds the VM
    host_queue: str | None = None  # its host's compute queue, while it runs
    address: str | None = None
    age_s: float = 0.0
    detail: str | None = None
    since_check_s: float | None = None  # since its last health check (None: never)
    served: bool = False  # it passed a check once

    @property
    def lost(self) -> bool:
        return not self.locked and (self.vm_state is None or self.vm_state in LOST_STATES)

    @property
    def serving(self) -> bool:
        return self.health == "passing" and self.vm_state == "Running"


class Retirement(BaseModel):
    vm_id: UUID
    reason: str
    failed: bool = False  # it never served: a failed deploy (the backoff counts these)


class Plan(BaseModel):
    retire: list[Retirement] = Field(default_factory=list)
    deploy: int = 0
    was: int = 0  # the desired count the plan started from
    desired: int  # what desired becomes (the service's own when unchanged)
    scale_reason: str | None = None  # set when autoscale changed desired
    rollout_done: bool = False
    gone: bool = False  # a deleted service with nothing left: remove it


def autoscaled(
    svc: ManagedService, metric: float | None, since_scaled_s: float | None
) -> tuple[int, str | None]:
    """The desired count after the policy, and why it changed (None: unchanged)."""
    low, high = svc.min_instances, svc.max_instances
    desired = min(max(svc.desired, low), high)
    policy: Autoscale | None = svc.autoscale
    if policy is None or metric is None:
        return desired, None if desired == svc.desired else "bounds changed"
    if since_scaled_s is not None and since_scaled_s < policy.cooldown_s:
        return desired, None if desired == svc.desired else "bounds changed"
    if metric > policy.scale_out_above and desired < high:
        new = min(high, desired + policy.step)
        return new, f"{policy.metric} {metric:g} > {policy.scale_out_above:g}"
    if metric < policy.scale_in_below and desired > low:
        new = max(low, desired - policy.step)
        return new, f"{policy.metric} {metric:g} < {policy.scale_in_below:g}"
    return desired, None if desired == svc.desired else "bounds changed"


def backoff_s(svc: ManagedService) -> float:
    """How long deploys wait after the last failed one: none for the first two failures
    in a row, then one check interval doubling each time, at most 5 minutes."""
    if svc.failed_deploys < 3:
        return 0.0
    return float(min(300.0, svc.health.interval_s * 2 ** min(svc.failed_deploys - 3, 16)))


def decide(
    svc: ManagedService,
    instances: list[Observed],
    metric: float | None,
    since_scaled_s: float | None,
    since_failed_s: float | None = None,
) -> Plan:
    current = [i for i in instances if i.health != "retiring"]
    if svc.state == "Deleting":
        leaving = [
            Retirement(vm_id=i.vm_id, reason="the service is deleted")
            for i in current
            if not i.locked
        ]
        return Plan(retire=leaving, was=svc.desired, desired=svc.desired, gone=not instances)
    desired, why = autoscaled(svc, metric, since_scaled_s)
    retire: list[Retirement] = []
    live: list[Observed] = []
    for i in current:
        failed = not i.served
        if i.lost:
            why = f"its VM is {i.vm_state or 'gone'}"
            retire.append(Retirement(vm_id=i.vm_id, reason=why, failed=failed))
        elif i.health == "failing" and not i.locked:
            why = f"unhealthy: {i.detail or 'failing'}"
            retire.append(Retirement(vm_id=i.vm_id, reason=why, failed=failed))
        elif i.vm_state != "Running" and not i.locked and i.age_s > svc.health.grace_s:
            why = f"its VM is {i.vm_state}, not running, after {svc.health.grace_s:g} s"
            retire.append(Retirement(vm_id=i.vm_id, reason=why, failed=True))
        else:
            live.append(i)

    def release(chosen: list[Observed], reason: str) -> None:
        for i in chosen:
            live.remove(i)
            retire.append(Retirement(vm_id=i.vm_id, reason=reason))

    surge = 1 if svc.strategy.max_unavailable == 0 else 0
    old = [i for i in live if i.release != svc.release]
    limit = desired + (surge if old else 0)
    if len(live) > limit:
        # Never below desired serving by a scale-in: while locked instances (being
        # deployed) hold places, serving ones wait for them to come up or fail.
        spare = max(0, sum(1 for i in live if i.serving) - desired)
        chosen: list[Observed] = []
        for i in sorted(
            (i for i in live if not i.locked),
            key=lambda i: (i.serving, i.release == svc.release, i.age_s),
        ):
            if len(chosen) == len(live) - limit:
                break
            if i.serving:
                if spare == 0:
                    continue
                spare -= 1
            chosen.append(i)
        release(chosen, f"scaled in to {desired}")
    old = [i for i in live if i.release != svc.release and not i.locked]
    if old:
        reason = f"replaced by release {svc.release}"
        release([i for i in old if not i.serving], reason)
        serving = sum(1 for i in live if i.serving)
        budget = serving - (desired - svc.strategy.max_unavailable)
        release([i for i in old if i.serving][: max(0, budget)], reason)
    still_old = any(i.release != svc.release for i in live)
    deploy = max(0, desired + (surge if still_old else 0) - len(live))
    if since_failed_s is not None and since_failed_s < backoff_s(svc):
        deploy = 0  # deploys keep failing: wait before the next one
    done = (
        svc.previous_release is not None
        and not any(i.release != svc.release for i in current)
        and sum(1 for i in live if i.serving) >= desired
    )
    return Plan(
        retire=retire,
        deploy=deploy,
        was=svc.desired,
        desired=desired,
        scale_reason=why if desired != svc.desired else None,
        rollout_done=done,
    )
