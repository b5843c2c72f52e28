"""Inputs of deployment planning: candidate hosts as the planner sees them, and the ask."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from pydantic import BaseModel, Field


@dataclass(frozen=True, slots=True)
class HostCandidate:
    """An Up and Enabled host with its effective capacity (overcommit and reserve applied).

    A plain dataclass, not a model: a zone of 10,000 hosts builds 10,000 of these per
    decision, read straight from database rows (nothing to validate)."""

    id: UUID
    name: str
    cluster_id: UUID
    cpu_capacity_mhz: int
    cpu_used_mhz: int
    memory_capacity_mb: int
    memory_used_mb: int
    tags: list[str] = field(default_factory=list)
    owner_vms: int = 0  # VMs of the requesting owner already on this host
    # Why its cluster takes no new VM (over a disable threshold); empty: it does.
    cluster_full: str = ""

    @property
    def cpu_free_mhz(self) -> int:
        return self.cpu_capacity_mhz - self.cpu_used_mhz

    @property
    def memory_free_mb(self) -> int:
        return self.memory_capacity_mb - self.memory_used_mb


class AffinityRule(BaseModel):
    group_id: UUID
    group_name: str
    kind: str  # host-affinity | host-anti-affinity
    strict: bool
    member_hosts: list[UUID] = Field(default_factory=list)  # hosts other members occupy


class PlanRequest(BaseModel):
    cpu_mhz: int
    memory_mb: int
    host_tags: list[str] = Field(default_factory=list)
    avoid: list[UUID] = Field(default_factory=list)
    prefer_host_id: UUID | None = None
    affinity: list[AffinityRule] = Field(default_factory=list)
    seed: int = 0


@dataclass
class PlanOutcome:
    """Hosts to try in order, and why each of the others was excluded."""

    ordered: list[HostCandidate]
    excluded: dict[str, str] = field(default_factory=dict)  # host name -> reason

    def explain(self) -> str:
        if not self.excluded:
            return "no Up and Enabled host in the zone"
        reasons: dict[str, list[str]] = {}
        for host, why in self.excluded.items():
            reasons.setdefault(why, []).append(host)
        return "; ".join(
            f"{len(hosts)} host(s) {why} ({', '.join(sorted(hosts)[:5])}"
            f"{', ...' if len(hosts) > 5 else ''})"
            for why, hosts in sorted(reasons.items())
        )


# The hard rules every planner applies (and a migration's target choice), and the
# ranking of non-strict affinity.


def exclusion(req: PlanRequest, host: HostCandidate) -> str | None:
    """Why ``host`` cannot take the request, or None. Hard rules shared by all planners."""
    if req.avoid and host.id in req.avoid:
        return "avoided after a failure in this operation"
    if host.cluster_full:
        return host.cluster_full
    if req.host_tags:
        missing = set(req.host_tags) - set(host.tags)
        if missing:
            return f"lack host tags {sorted(missing)}"
    if host.cpu_free_mhz < req.cpu_mhz:
        return f"lack CPU ({req.cpu_mhz} MHz asked)"
    if host.memory_free_mb < req.memory_mb:
        return f"lack memory ({req.memory_mb} MiB asked)"
    for rule in req.affinity:
        if not rule.strict:
            continue
        if rule.kind == "host-anti-affinity" and host.id in rule.member_hosts:
            return f"hold a member of anti-affinity group {rule.group_name}"
        if rule.kind == "host-affinity" and rule.member_hosts and host.id not in rule.member_hosts:
            return f"are not the host of affinity group {rule.group_name}"
    return None


def soft_penalty(req: PlanRequest, host: HostCandidate) -> int:
    """Non-strict affinity: 0 is best. Used as the first sort key by every planner."""
    penalty = 0
    for rule in req.affinity:
        if rule.strict:
            continue
        if rule.kind == "host-anti-affinity" and host.id in rule.member_hosts:
            penalty += 1
        if rule.kind == "host-affinity" and rule.member_hosts and host.id not in rule.member_hosts:
            penalty += 1
    return penalty
