"""The managed-service reconciler's decisions (pure): replacement, scaling, rollouts."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from strato.domain.fleet.models import ManagedService, ServiceDefinition
from strato.domain.fleet.plan import Observed, decide

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def service(**kw: Any) -> ManagedService:
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": "web",
        "release": "v2",
        "state": "Active",
        "zone_id": uuid.uuid4(),
        "template_id": uuid.uuid4(),
        "service_offering_id": uuid.uuid4(),
        "min_instances": 1,
        "max_instances": 6,
        "desired": 3,
        "health": {"port": 80},
        "strategy": {"max_unavailable": 1},
        "created_at": NOW,
        "updated_at": NOW,
    }
    return ManagedService.model_validate(base | kw)


def inst(release: str = "v2", health: str = "passing", **kw: Any) -> Observed:
    base: dict[str, Any] = {
        "vm_id": uuid.uuid4(),
        "vm_name": "x",
        "release": release,
        "health": health,
        "vm_state": "Running",
        "host_queue": "compute@h",
        "age_s": 100.0,
    }
    return Observed.model_validate(base | kw)


def test_missing_instances_are_deployed_and_lost_or_failed_ones_replaced() -> None:
    lost = inst(vm_state="Stopped")
    gone = inst(vm_state=None)
    failed = inst(health="failing", detail="refused")
    plan = decide(service(), [inst(), lost, gone, failed], None, None)
    assert {r.vm_id for r in plan.retire} == {lost.vm_id, gone.vm_id, failed.vm_id}
    assert plan.deploy == 2


def test_an_instance_an_operation_holds_is_left_to_it() -> None:
    deploying = inst(health="pending", vm_state="Allocated", locked=True)
    stopping = inst(vm_state="Stopped", locked=True)
    plan = decide(service(), [inst(), deploying, stopping], None, None)
    assert plan.retire == [] and plan.deploy == 0


def test_autoscale_steps_once_per_cooldown_within_bounds() -> None:
    svc = service(
        metrics=["load"],
        autoscale={
            "metric": "custom:load",
            "scale_out_above": 70,
            "scale_in_below": 20,
            "step": 2,
            "cooldown_s": 30,
        },
        desired=5,
    )
    three = [inst(), inst(), inst()]
    assert decide(svc, three, 90, 10).desired == 5  # cooling down
    plan = decide(svc, three, 90, 31)
    assert (plan.desired, plan.deploy) == (6, 3)  # capped at max_instances
    assert plan.scale_reason is not None and "custom:load 90 > 70" in plan.scale_reason
    low = decide(svc.model_copy(update={"desired": 2}), three, 5, None)
    assert (low.desired, len(low.retire)) == (1, 2)
    assert decide(svc, three, None, None).desired == 5  # no value yet: unchanged


def test_scale_in_retires_what_does_not_serve_first() -> None:
    pending = inst(health="pending", vm_state="Starting")
    keep = [inst(age_s=500), inst(age_s=400)]
    young = inst(age_s=5)
    plan = decide(service(desired=2), [*keep, young, pending], None, None)
    assert [r.vm_id for r in plan.retire] == [pending.vm_id, young.vm_id]


@pytest.mark.parametrize(("desired", "max_unavailable"), [(3, 1), (3, 0), (4, 2), (1, 1)])
def test_a_rollout_never_drops_below_desired_minus_max_unavailable(
    desired: int, max_unavailable: int
) -> None:
    """Simulate a rollout round by round: each round a new instance deployed in the
    last round becomes healthy. Serving never drops below the floor, and it ends."""
    svc = service(
        desired=desired, strategy={"max_unavailable": max_unavailable}, previous_release="v1"
    )
    floor = desired - max_unavailable
    fleet = [inst("v1") for _ in range(desired)]
    for _ in range(4 * desired + 4):
        plan = decide(svc, fleet, None, None)
        gone = {r.vm_id for r in plan.retire}
        fleet = [i for i in fleet if i.vm_id not in gone]
        assert sum(i.serving for i in fleet) >= min(floor, desired)
        if plan.rollout_done:
            break
        fleet = [i.model_copy(update={"health": "passing", "vm_state": "Running"}) for i in fleet]
        fleet += [inst("v2", "pending", vm_state="Starting") for _ in range(plan.deploy)]
    else:
        pytest.fail("the rollout never finished")
    assert [i.release for i in fleet] == ["v2"] * desired


def test_a_deleted_service_retires_everything_then_is_gone() -> None:
    svc = service(state="Deleting")
    plan = decide(svc, [inst(), inst(health="retiring")], None, None)
    assert len(plan.retire) == 1 and not plan.gone
    assert decide(svc, [], None, None).gone


def definition(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web",
        "release": "1.0",
        "zone_id": str(uuid.uuid4()),
        "template_id": str(uuid.uuid4()),
        "service_offering_id": str(uuid.uuid4()),
        "min_instances": 1,
        "max_instances": 3,
        "health": {"kind": "tcp", "port": 8080},
    }
    return base | kw


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"min_instances": 4}, "min_instances (4) is greater than max_instances (3)"),
        ({"desired": 5}, "desired (5) is outside [1, 3]"),
        ({"health": {"port": 70000}}, "less than or equal to 65535"),
        ({"health": {"port": 0}}, "greater than or equal to 1"),
        (
            {"autoscale": {"metric": "custom:qps", "scale_out_above": 5, "scale_in_below": 1}},
            "autoscale metric 'custom:qps' does not exist",
        ),
        (
            {"autoscale": {"metric": "memory", "scale_out_above": 5, "scale_in_below": 1}},
            "should match pattern",
        ),
        (
            {"autoscale": {"metric": "cpu", "scale_out_above": 5, "scale_in_below": 9}},
            "scale_in_below (9.0) must be below scale_out_above (5.0)",
        ),
        ({"name": "Web Service"}, "should match pattern"),
        ({"replicas": 3}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_definition_is_refused_saying_why(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        ServiceDefinition.model_validate(definition(**changes))


def test_scale_in_keeps_desired_serving_while_a_deploy_holds_a_place() -> None:
    deploying = inst(health="pending", vm_state="Starting", locked=True)
    a, b = inst(age_s=50), inst(age_s=40)
    plan = decide(service(desired=1, min_instances=1), [a, b, deploying], None, None)
    assert [r.vm_id for r in plan.retire] == [b.vm_id]  # one serves on until it is up


def test_an_instance_not_running_after_its_grace_is_a_failed_deploy() -> None:
    stuck = inst(health="pending", vm_state="Allocated", age_s=400)
    early = inst(health="pending", vm_state="Allocated", age_s=10)
    plan = decide(service(desired=2), [stuck, early], None, None)
    assert [(r.vm_id, r.failed) for r in plan.retire] == [(stuck.vm_id, True)]
    assert plan.deploy == 1


def test_deploys_back_off_after_three_failures_in_a_row() -> None:
    svc = service(failed_deploys=4, health={"port": 80, "interval_s": 10})
    assert decide(svc, [], None, None, since_failed_s=15).deploy == 0  # waits 20 s
    assert decide(svc, [], None, None, since_failed_s=25).deploy == 3
    assert decide(service(failed_deploys=2), [], None, None, since_failed_s=0).deploy == 3


def test_a_service_may_not_take_a_platform_kind() -> None:
    with pytest.raises(ValidationError, match="one of the platform's own kinds"):
        ServiceDefinition.model_validate(definition(name="orchestrator"))
