"""Managed services' event types: instances added, healthy, failed, retired; scaling;
rollouts; deploys the platform refused. (Created, updated, deleted and state_changed are
the generic ones of ``managed_service``.)"""

from __future__ import annotations

from strato.domain.events import EventType, Payload, register


class InstanceEvent(Payload):
    vm_id: str
    release: str
    detail: str | None = None


class InstanceRetired(Payload):
    vm_id: str
    release: str
    reason: str


class ServiceScaled(Payload):
    old: int
    new: int
    reason: str


class ServiceRollout(Payload):
    release: str
    previous: str | None = None


class DeployRefused(Payload):
    detail: str


_T = "managed_service"
register(
    EventType(
        "strato.managed_service.instance_added", _T, InstanceEvent, "an instance was deployed"
    ),
    EventType(
        "strato.managed_service.instance_healthy",
        _T,
        InstanceEvent,
        "an instance passed its health check (it is listed in the directory)",
    ),
    EventType(
        "strato.managed_service.instance_failed",
        _T,
        InstanceEvent,
        "an instance failed its health check unhealthy_after times (it will be replaced)",
    ),
    EventType(
        "strato.managed_service.instance_retired",
        _T,
        InstanceRetired,
        "an instance is leaving (lost, failed, scaled in, replaced by a rollout, deleted)",
    ),
    EventType(
        "strato.managed_service.scaled",
        _T,
        ServiceScaled,
        "its desired count changed (by its autoscale policy, or a person)",
    ),
    EventType(
        "strato.managed_service.rollout_started", _T, ServiceRollout, "a new release is rolling out"
    ),
    EventType(
        "strato.managed_service.rollout_finished",
        _T,
        ServiceRollout,
        "every instance runs the new release and desired ones serve",
    ),
    EventType(
        "strato.managed_service.deploy_refused",
        _T,
        DeployRefused,
        "the platform refused to deploy an instance (capacity, limits, a template gone)",
    ),
)
