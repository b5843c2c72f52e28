"""The deployment-planner contract: filter candidates by hard rules, order the rest.

Planners are pure functions of their inputs. They never claim: the claim is an atomic
SQL update done afterwards, host by host in the planner's order, so concurrent deploys
cannot oversubscribe a host whatever the planners decided.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from strato.domain.compute.placement import HostCandidate, PlanOutcome, PlanRequest


def exclusion(req: PlanRequest, host: HostCandidate) -> str | None:
    """Why ``host`` cannot take the request, or None. Hard rules shared by all planners."""
    if req.avoid and host.id in req.avoid:
        return "avoided after a failure in this operation"
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


class DeploymentPlanner(abc.ABC):
    name: str = "abstract"

    def plan(self, req: PlanRequest, candidates: Sequence[HostCandidate]) -> PlanOutcome:
        """Every candidate that passes the hard rules, best first."""
        ok: list[HostCandidate] = []
        excluded: dict[str, str] = {}
        for host in candidates:
            why = exclusion(req, host)
            if why is None:
                ok.append(host)
            else:
                excluded[host.name] = why
        ordered = self.order(req, ok)
        # Stable sorts: the planner's order stays within equal keys. Skipped when no key
        # can differ (the common case), which matters with 10,000 candidates.
        # Least significant key first: affinity penalty ranks above the preferred host.
        if req.prefer_host_id is not None:
            ordered.sort(key=lambda h: h.id != req.prefer_host_id)
        if any(not rule.strict for rule in req.affinity):
            ordered.sort(key=lambda h: soft_penalty(req, h))
        return PlanOutcome(ordered=ordered, excluded=excluded)

    @abc.abstractmethod
    def order(self, req: PlanRequest, hosts: list[HostCandidate]) -> list[HostCandidate]:
        """Order hosts that all fit; the stable sort in :meth:`plan` keeps this order
        within equal affinity penalties."""
