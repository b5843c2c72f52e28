"""Random: a shuffled order, seeded per request so a retried step plans the same way."""

from __future__ import annotations

import random

from strato.domain.compute.placement import HostCandidate, PlanRequest
from strato.drivers.planner.base import DeploymentPlanner


class RandomPlanner(DeploymentPlanner):
    name = "random"

    def order(self, req: PlanRequest, hosts: list[HostCandidate]) -> list[HostCandidate]:
        ordered = sorted(hosts, key=lambda h: h.name)
        random.Random(req.seed).shuffle(ordered)
        return ordered
