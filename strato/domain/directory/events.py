"""The services directory's event types: instances joining, changing health, leaving."""

from __future__ import annotations

from strato.domain.events import EventType, Payload, register


class ServiceNamed(Payload):
    name: str
    kind: str


class ServiceHealth(Payload):
    name: str
    kind: str
    detail: str | None = None


class ServiceGone(Payload):
    name: str
    kind: str
    reason: str


register(
    EventType("strato.service.registered", "service", ServiceNamed, "a service instance joined"),
    EventType(
        "strato.service.health_changed",
        "service",
        ServiceHealth,
        "its health changed (old/new state: passing, warning, critical)",
    ),
    EventType(
        "strato.service.deregistered",
        "service",
        ServiceGone,
        "it left the directory (deregistered, or critical past its deregister_after_s)",
    ),
)
