"""Webhook subscriptions and their deliveries: what a subscriber asks for, and the rules
that decide which events it gets.

A subscription names an http(s) URL, event-type patterns (``*`` matches any run of
characters, dots included: ``strato.vm.*``, ``*.deleted``), optionally resource ids and
resource types, and a secret that signs every delivery (:mod:`strato.events.signing`).
Each pattern must match at least one type of the catalog (:mod:`strato.domain.events`),
so a typo is refused instead of silently receiving nothing.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from strato.domain import events as catalog
from strato.domain.errors import InvalidInput
from strato.domain.fields import Name, Request
from strato.domain.models import Entity, Event

TypePattern = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-z0-9._*]+$")
]
ResourceType = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]
WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]

DeliveryState = Literal["pending", "delivered", "dead"]


class Webhook(Entity):
    """A subscription as the API shows it (never its secret)."""

    name: str
    url: str
    types: list[str] = Field(default_factory=list)
    resource_ids: list[UUID] = Field(default_factory=list)
    resource_types: list[str] = Field(default_factory=list)
    enabled: bool = True
    # Deliveries to loopback, link-local and the platform's own networks (an admin's).
    allow_internal: bool = False
    max_attempts: int = 8
    # It gets the events after this id (the newest when it was made).
    since_event: int = 0


class WebhookCreate(Request):
    name: Name
    url: WebhookUrl
    secret: Secret
    types: Annotated[list[TypePattern], Field(min_length=1, max_length=64)] = ["*"]
    resource_ids: Annotated[list[UUID], Field(max_length=256)] = Field(default_factory=list)
    resource_types: Annotated[list[ResourceType], Field(max_length=64)] = Field(
        default_factory=list
    )
    enabled: bool = True
    allow_internal: bool = False
    max_attempts: int = Field(default=8, ge=1, le=50)


class WebhookUpdate(Request):
    name: Name | None = None
    url: WebhookUrl | None = None
    secret: Secret | None = None
    types: Annotated[list[TypePattern], Field(min_length=1, max_length=64)] | None = None
    resource_ids: Annotated[list[UUID], Field(max_length=256)] | None = None
    resource_types: Annotated[list[ResourceType], Field(max_length=64)] | None = None
    enabled: bool | None = None
    allow_internal: bool | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=50)


class Delivery(BaseModel):
    """One event's delivery to one subscription, with how its attempts went."""

    id: int
    webhook_id: UUID
    event_id: int
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime


def check_types(patterns: list[str]) -> None:
    """Refuse a pattern that matches no event type of the catalog."""
    known = [et.type for et in catalog.catalog()]
    for i, pattern in enumerate(patterns):
        if not any(fnmatch.fnmatchcase(t, pattern) for t in known):
            raise InvalidInput(
                f"types[{i}]: {pattern!r} matches no event type (see GET /api/v1/events/types "
                "or docs/events.md); '*' matches any run of characters",
                field=f"types[{i}]",
            )


def check_resource_types(names: list[str]) -> None:
    known = {et.resource for et in catalog.catalog()}
    for i, name in enumerate(names):
        if name not in known:
            raise InvalidInput(
                f"resource_types[{i}]: no event is about a {name!r}; known: "
                + ", ".join(sorted(known - {"*"})),
                field=f"resource_types[{i}]",
            )


def wants(hook: Webhook, event: Event) -> bool:
    """Whether the subscription gets this event."""
    if not hook.enabled or event.id <= hook.since_event:
        return False
    if hook.resource_ids and event.resource_id not in hook.resource_ids:
        return False
    if hook.resource_types and event.resource_type not in hook.resource_types:
        return False
    return any(fnmatch.fnmatchcase(event.type, p) for p in hook.types)
