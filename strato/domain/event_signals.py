"""Event subscriptions of workflows: a developer's workflow asks for the events of some
types (and resources), and the relay signals each one to it (``strato.event``, the
event's CloudEvents envelope) instead of the workflow polling. Type patterns are the
webhooks' (``strato.vm.*``), checked against the catalog."""

from __future__ import annotations

import fnmatch
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from strato.domain.fields import Request
from strato.domain.models import Entity, Event
from strato.domain.webhooks import TypePattern

SIGNAL = "strato.event"  # the signal's name, as the SDK's inbox handles it

WorkflowId = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class EventSignal(Entity):
    workflow_id: str
    types: list[str] = Field(default_factory=list)
    resource_ids: list[UUID] = Field(default_factory=list)
    since_event: int = 0


class EventSignalCreate(Request):
    workflow_id: WorkflowId
    types: Annotated[list[TypePattern], Field(min_length=1, max_length=64)] = ["*"]
    resource_ids: Annotated[list[UUID], Field(max_length=256)] = Field(default_factory=list)


def wants(sub: EventSignal, event: Event) -> bool:
    if event.id <= sub.since_event:
        return False
    if sub.resource_ids and event.resource_id not in sub.resource_ids:
        return False
    return any(fnmatch.fnmatchcase(event.type, p) for p in sub.types)
