"""A service instance as the directory knows it, and how one registers.

An instance is one running process of a kind (``api``, ``orchestrator``, ``relay``,
``simulator-agent``, a service's own kinds), named uniquely (``api@host:8080``). Its
health is *passing* while its heartbeats come within its TTL (or the directory's
HTTP/TCP check of it passes), *critical* once they stop, and it is removed from the
directory after ``deregister_after_s`` of being critical. A heartbeat may also say
*warning* (up, but degraded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, model_validator

from strato.domain.fields import Request

Health = Literal["passing", "warning", "critical"]
CheckKind = Literal["ttl", "http", "tcp"]
Kind = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
]
InstanceName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]


class Endpoint(BaseModel):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    protocol: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "http"


class ServiceInstance(BaseModel):
    id: UUID
    name: str
    kind: str
    version: str = ""
    zone: str | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    health: Health = "passing"
    health_detail: str | None = None
    check_kind: CheckKind = "ttl"
    check_target: str | None = None
    ttl_s: int = 30
    deregister_after_s: int = 120
    last_seen_at: datetime
    critical_since: datetime | None = None
    checked_at: datetime | None = None  # the directory's last HTTP/TCP check
    created_at: datetime
    updated_at: datetime


class ServiceRegister(Request):
    """Register (or re-register: same name, same instance) a service instance."""

    name: InstanceName
    kind: Kind
    version: Annotated[str, StringConstraints(max_length=64)] = ""
    zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    endpoints: Annotated[list[Endpoint], Field(max_length=16)] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    check_kind: CheckKind = "ttl"
    # http: a URL answered with 2xx; tcp: host:port that accepts a connection.
    check_target: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    ttl_s: int = Field(default=30, ge=1, le=86_400)
    deregister_after_s: int = Field(default=120, ge=0, le=30 * 86_400)

    @model_validator(mode="after")
    def _check_has_target(self) -> ServiceRegister:
        if self.check_kind != "ttl" and not self.check_target:
            raise ValueError(f"check_target is needed for a {self.check_kind} check")
        if self.check_kind == "http" and not (self.check_target or "").startswith(
            ("http://", "https://")
        ):
            raise ValueError("check_target of an http check must be an http(s) URL")
        if self.check_kind == "tcp" and ":" not in (self.check_target or ""):
            raise ValueError("check_target of a tcp check must be host:port")
        return self


class ServiceBeat(Request):
    """A TTL heartbeat: still alive; optionally degraded (warning) with a note."""

    health: Literal["passing", "warning"] = "passing"
    detail: Annotated[str, StringConstraints(max_length=1024)] | None = None
