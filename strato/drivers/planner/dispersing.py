"""User dispersing: spread one owner's VMs, then prefer the emptiest host."""

from __future__ import annotations

from strato.domain.compute.placement import HostCandidate, PlanRequest
from strato.drivers.planner.base import DeploymentPlanner


class UserDispersingPlanner(DeploymentPlanner):
    name = "user_dispersing"

    def order(self, req: PlanRequest, hosts: list[HostCandidate]) -> list[HostCandidate]:
        return sorted(hosts, key=lambda h: (h.owner_vms, -h.memory_free_mb, h.name))
