"""The deployment-planner contract: filter candidates by hard rules, order the rest.

Planners are pure functions of their inputs. They never claim: the claim is an atomic
SQL update done afterwards, host by host in the planner's order, so concurrent deploys
cannot oversubscribe a host whatever the planners decided.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from strato.domain.compute.placement import (
    HostCandidate,
    PlanOutcome,
    PlanRequest,
    exclusion,
    soft_penalty,
)


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
