"""The managed-service reconciler's workflow type, its steps, and what they exchange."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.fleet.models import ManagedService
from strato.domain.fleet.plan import Observed, Plan
from strato.domain.steps import Flow, Step


class ServiceRef(BaseModel):
    service_id: UUID
    rounds: int = 0  # rounds run by earlier runs (continue-as-new)


class Observation(BaseModel):
    service: ManagedService | None  # None: the service is gone
    instances: list[Observed] = Field(default_factory=list)
    metric: float | None = None  # the autoscale metric's value, when there is one
    since_scaled_s: float | None = None
    since_failed_s: float | None = None  # since the last failed deploy


class GuestProbe(BaseModel):
    """Does the guest of VM ``name`` answer on ``port`` (TCP connect, or an HTTP GET of
    ``path`` answered 2xx/3xx), at ``address``?"""

    name: str
    address: str | None = None
    kind: str = "tcp"
    port: int
    path: str = "/"
    timeout_s: float = 2.0


class ProbeOutcome(BaseModel):
    ok: bool
    detail: str = ""


class HealthInput(BaseModel):
    service_id: UUID
    outcomes: dict[str, ProbeOutcome] = Field(default_factory=dict)  # by VM id


class ApplyInput(BaseModel):
    service_id: UUID
    plan: Plan
    deploy_keys: list[str] = Field(default_factory=list)  # one Idempotency-Key per deploy
    # The service as the plan saw it: deploys are made from it, so a retry of the step
    # sends the very requests its first try sent (a rollout since does not change them).
    service: ManagedService | None = None


class Applied(BaseModel):
    gone: bool = False
    deployed: list[UUID] = Field(default_factory=list)
    retired: list[UUID] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)


MANAGED_SERVICE: Flow[ServiceRef, None] = Flow("ManagedService", ServiceRef, None)
WAKE = "wake"  # the signal: the definition changed, look now

FLEET_OBSERVE: Step[ServiceRef, Observation] = Step("fleet.observe", ServiceRef, Observation)
FLEET_HEALTH: Step[HealthInput, Observation] = Step("fleet.health", HealthInput, Observation)
FLEET_APPLY: Step[ApplyInput, Applied] = Step("fleet.apply", ApplyInput, Applied)
# On the instance's host (its compute queue): the agent probes its own guest.
PROBE_GUEST: Step[GuestProbe, ProbeOutcome] = Step("compute.probe_guest", GuestProbe, ProbeOutcome)


def workflow_id(service_id: UUID) -> str:
    return f"managed-service:{service_id}"
