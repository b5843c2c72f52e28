"""Deployment planners are pure: hard rules filter, each algorithm orders."""

from __future__ import annotations

import uuid

import pytest

from strato.domain.compute.placement import AffinityRule, HostCandidate, PlanRequest
from strato.drivers.registry import load


def host(
    name: str,
    *,
    cpu_free: int = 8000,
    mem_free: int = 8192,
    tags: list[str] | None = None,
    owner_vms: int = 0,
) -> HostCandidate:
    return HostCandidate(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        name=name,
        cluster_id=uuid.UUID(int=1),
        cpu_capacity_mhz=10_000,
        cpu_used_mhz=10_000 - cpu_free,
        memory_capacity_mb=16_384,
        memory_used_mb=16_384 - mem_free,
        tags=tags or [],
        owner_vms=owner_vms,
    )


ASK = PlanRequest(cpu_mhz=1000, memory_mb=1024)


@pytest.mark.parametrize("name", ["first_fit", "user_dispersing", "random"])
def test_hard_rules_apply_to_every_planner(name: str) -> None:
    planner = load("planner", name)()
    hosts = [
        host("a", mem_free=512, tags=["ssd"]),
        host("b", cpu_free=500, tags=["ssd"]),
        host("c", tags=["ssd"]),
        host("d"),
    ]
    req = PlanRequest(cpu_mhz=1000, memory_mb=1024, host_tags=["ssd"], avoid=[host("x").id])
    out = planner.plan(req, hosts)
    assert [h.name for h in out.ordered] == ["c"]
    assert "memory" in out.excluded["a"] and "CPU" in out.excluded["b"]
    assert "host tags" in out.excluded["d"]
    assert "lack memory" in out.explain()


def test_first_fit_is_name_order() -> None:
    out = load("planner", "first_fit")().plan(ASK, [host("b"), host("c"), host("a")])
    assert [h.name for h in out.ordered] == ["a", "b", "c"]


def test_user_dispersing_prefers_hosts_without_the_owners_vms() -> None:
    hosts = [
        host("a", owner_vms=2),
        host("b", owner_vms=0, mem_free=2048),
        host("c", owner_vms=0, mem_free=4096),
    ]
    out = load("planner", "user_dispersing")().plan(ASK, hosts)
    assert [h.name for h in out.ordered] == ["c", "b", "a"]


def test_random_is_reproducible_per_seed_and_varies_across_seeds() -> None:
    planner = load("planner", "random")()
    hosts = [host(f"h{i}") for i in range(8)]
    orders = {
        tuple(h.name for h in planner.plan(ASK.model_copy(update={"seed": s}), hosts).ordered)
        for s in range(10)
    }
    same = planner.plan(ASK.model_copy(update={"seed": 3}), hosts).ordered
    again = planner.plan(ASK.model_copy(update={"seed": 3}), hosts).ordered
    assert same == again and len(orders) > 1


def test_strict_anti_affinity_excludes_and_non_strict_only_demotes() -> None:
    a, b = host("a"), host("b")
    strict = AffinityRule(
        group_id=uuid.uuid4(),
        group_name="g",
        kind="host-anti-affinity",
        strict=True,
        member_hosts=[a.id],
    )
    out = load("planner", "first_fit")().plan(ASK.model_copy(update={"affinity": [strict]}), [a, b])
    assert [h.name for h in out.ordered] == ["b"] and "anti-affinity group g" in out.excluded["a"]
    soft = strict.model_copy(update={"strict": False})
    out = load("planner", "first_fit")().plan(ASK.model_copy(update={"affinity": [soft]}), [a, b])
    assert [h.name for h in out.ordered] == ["b", "a"]


def test_strict_affinity_pins_to_the_members_host_and_prefer_host_wins_ties() -> None:
    a, b, c = host("a"), host("b"), host("c")
    rule = AffinityRule(
        group_id=uuid.uuid4(),
        group_name="g",
        kind="host-affinity",
        strict=True,
        member_hosts=[b.id],
    )
    out = load("planner", "first_fit")().plan(
        ASK.model_copy(update={"affinity": [rule]}), [a, b, c]
    )
    assert [h.name for h in out.ordered] == ["b"]
    out = load("planner", "first_fit")().plan(
        ASK.model_copy(update={"prefer_host_id": c.id}), [a, b, c]
    )
    assert [h.name for h in out.ordered] == ["c", "a", "b"]
