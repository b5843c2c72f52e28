"""First fit: hosts in a fixed order (by name); the first that fits wins."""

from __future__ import annotations

from strato.domain.compute.placement import HostCandidate, PlanRequest
from strato.drivers.planner.base import DeploymentPlanner


class FirstFitPlanner(DeploymentPlanner):
    name = "first_fit"

    def order(self, req: PlanRequest, hosts: list[HostCandidate]) -> list[HostCandidate]:
        return sorted(hosts, key=lambda h: h.name)
