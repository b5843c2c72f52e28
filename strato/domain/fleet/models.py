"""A managed service: what a developer hands Strato to run as system VMs (a
``ServiceDefinition``), checked whole, and what Strato says about it.

One reconciler workflow per service keeps ``desired`` instances of its ``release``
deployed through the ordinary deploy path, replaces instances that are lost or fail their
health check, scales between ``min_instances`` and ``max_instances`` on a metric, rolls
out a new release without dropping below ``desired - max_unavailable`` healthy
instances, and registers every healthy instance in the services directory (its kind is
the service's name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, model_validator

from strato.domain.fields import Request
from strato.domain.models import Entity

# The service's name is its kind in the directory: the directory's kind syntax.
ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=48, pattern=r"^[a-z0-9][a-z0-9-]*$")
]
Release = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
]
MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
]
# "cpu" (the instances' mean CPU use, in percent of their vCPUs, from the agents' stats)
# or "custom:<name>" (a value the service reports, declared in ``metrics``).
MetricRef = Annotated[
    str, StringConstraints(min_length=3, max_length=71, pattern=r"^(cpu|custom:[a-z][a-z0-9_]*)$")
]
Instances = Annotated[int, Field(ge=0, le=100)]
# The platform's own kinds in the directory: a service may not pass for one of them.
RESERVED_NAMES = frozenset(
    {
        "api",
        "orchestrator",
        "relay",
        "temporal",
        "temporal-ui",
        "amqp",
        "postgres",
        "compute-agent",
        "network-agent",
        "simulator-agent",
        "template-service",
    }
)

STATES = ("Active", "Deleting")


class HealthCheck(Request):
    """How the reconciler knows an instance serves: a TCP connect to ``port`` or an
    HTTP GET of ``path`` on it (2xx/3xx), on the instance's first address, from its host.
    Checked every ``interval_s``; ``unhealthy_after`` failures in a row make it failed
    (replaced), and a new instance has ``grace_s`` to answer a first time."""

    kind: Literal["tcp", "http"] = "tcp"
    port: int = Field(ge=1, le=65535)
    path: Annotated[str, StringConstraints(max_length=1024, pattern=r"^/[^\s]*$")] = "/"
    interval_s: float = Field(default=10.0, ge=0.5, le=3600)
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    unhealthy_after: int = Field(default=3, ge=1, le=100)
    grace_s: float = Field(default=300.0, ge=0, le=86_400)


class Autoscale(Request):
    """Add ``step`` instances while ``metric`` is above ``scale_out_above``, remove
    ``step`` while it is below ``scale_in_below``; at most one change per ``cooldown_s``,
    always within the service's bounds."""

    metric: MetricRef
    scale_out_above: float
    scale_in_below: float
    step: int = Field(default=1, ge=1, le=100)
    cooldown_s: float = Field(default=60.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _thresholds(self) -> Autoscale:
        if self.scale_in_below >= self.scale_out_above:
            raise ValueError(
                f"scale_in_below ({self.scale_in_below}) must be below scale_out_above "
                f"({self.scale_out_above})"
            )
        return self


class UpdateStrategy(Request):
    """Rolling: at most ``max_unavailable`` of ``desired`` instances may be unhealthy
    during a rollout (0: a new instance is added before an old one leaves)."""

    kind: Literal["rolling"] = "rolling"
    max_unavailable: int = Field(default=1, ge=0, le=100)


class ServiceDefinition(Request):
    """A managed service as a developer writes it (``strato services deploy -f``)."""

    name: ServiceName
    release: Release
    description: Annotated[str, StringConstraints(max_length=1024)] = ""
    zone_id: UUID
    template_id: UUID
    service_offering_id: UUID
    network_ids: Annotated[list[UUID], Field(max_length=8)] = Field(default_factory=list)
    min_instances: Instances = 1
    max_instances: Instances = 1
    desired: Instances | None = None  # none: min_instances
    # Spread instances over hosts: "preferred" (when capacity allows) or "required".
    anti_affinity: Literal["none", "preferred", "required"] = "none"
    health: HealthCheck
    autoscale: Autoscale | None = None
    strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)
    # The custom metrics the service reports (``POST .../metrics``).
    metrics: Annotated[list[MetricName], Field(max_length=16)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _whole(self) -> ServiceDefinition:
        if self.name in RESERVED_NAMES:
            raise ValueError(f"name {self.name!r} is one of the platform's own kinds")
        check_bounds(self.min_instances, self.max_instances, self.desired)
        if self.max_instances < 1:
            raise ValueError("max_instances must be at least 1")
        if self.autoscale is not None and self.autoscale.metric.startswith("custom:"):
            name = self.autoscale.metric.removeprefix("custom:")
            if name not in self.metrics:
                known = ", ".join(["cpu", *(f"custom:{m}" for m in self.metrics)])
                raise ValueError(
                    f"autoscale metric {self.autoscale.metric!r} does not exist: declare "
                    f"{name!r} in metrics (known: {known})"
                )
        return self


def check_bounds(low: int, high: int, desired: int | None) -> None:
    if low > high:
        raise ValueError(f"min_instances ({low}) is greater than max_instances ({high})")
    if desired is not None and not low <= desired <= high:
        raise ValueError(f"desired ({desired}) is outside [{low}, {high}]")


class ServiceScale(Request):
    """A new desired count (and optionally new bounds) for the service."""

    desired: Instances | None = None
    min_instances: Instances | None = None
    max_instances: Instances | None = None

    @model_validator(mode="after")
    def _something(self) -> ServiceScale:
        if self.desired is None and self.min_instances is None and self.max_instances is None:
            raise ValueError("give desired, min_instances or max_instances")
        return self


class ServiceRollout(Request):
    """Roll the service out to a new release (from a new template, or offering)."""

    release: Release
    template_id: UUID | None = None
    service_offering_id: UUID | None = None
    max_unavailable: int | None = Field(default=None, ge=0, le=100)


class MetricReport(Request):
    """A value of one of the service's custom metrics (the latest wins)."""

    name: MetricName
    value: float = Field(allow_inf_nan=False)


class ManagedService(Entity):
    name: str
    release: str
    previous_release: str | None = None
    description: str = ""
    state: str
    zone_id: UUID
    template_id: UUID
    service_offering_id: UUID
    network_ids: list[UUID] = Field(default_factory=list)
    min_instances: int
    max_instances: int
    desired: int
    anti_affinity: str = "none"
    affinity_group_id: UUID | None = None
    health: HealthCheck
    autoscale: Autoscale | None = None
    strategy: UpdateStrategy
    metrics: list[str] = Field(default_factory=list)
    last_scaled_at: datetime | None = None
    failed_deploys: int = 0  # instances in a row that never served (backoff)
    # What the reconciler saw last round.
    healthy: int = 0
    instances: int = 0
    last_error: str | None = None
    observed_at: datetime | None = None


InstanceHealth = Literal["pending", "passing", "failing", "retiring"]


class ServiceInstanceView(BaseModel):
    """One instance (a system VM) of a managed service."""

    vm_id: UUID
    service_id: UUID
    release: str
    health: InstanceHealth
    failures: int = 0
    detail: str | None = None
    vm_state: str | None = None
    address: str | None = None
    directory_name: str | None = None
    healthy_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class ServiceStatus(BaseModel):
    service: ManagedService
    instances: list[ServiceInstanceView]
    metrics: dict[str, float | None]
