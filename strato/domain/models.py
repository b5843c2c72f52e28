"""Persisted entities as the platform sees them (also their public shape): the common base
and the core's own records. Each subsystem's entities live in ``domain/<subsystem>/models.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Entity(BaseModel):
    """Common columns: UUID key, optimistic-concurrency version, timestamps."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int = 1
    created_at: datetime
    updated_at: datetime


class ApiKey(BaseModel):
    id: UUID
    name: str
    prefix: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Event(BaseModel):
    """One row of the transactional outbox."""

    id: int
    time: datetime
    type: str
    resource_type: str
    resource_id: UUID | None = None
    old_state: str | None = None
    new_state: str | None = None
    operation_id: UUID | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    owner: str | None = None  # its resource's owner (none: an administrator's event)

    def cloudevent(self, source: str = "/strato") -> dict[str, Any]:
        """The CloudEvents 1.0 structured-mode JSON envelope of this event."""
        data: dict[str, Any] = dict(self.payload)
        if self.old_state is not None or self.new_state is not None:
            data.setdefault("old_state", self.old_state)
            data.setdefault("new_state", self.new_state)
        if self.operation_id is not None:
            data.setdefault("operation_id", str(self.operation_id))
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(self.id),
            "source": source,
            "type": self.type,
            "time": self.time.isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
        if self.resource_id is not None:
            envelope["subject"] = f"{self.resource_type}/{self.resource_id}"
        return envelope
