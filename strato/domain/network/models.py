"""Network entities: guest networks and NICs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import field_validator

from strato.domain.models import Entity


def _address_text(value: Any) -> Any:
    """inet/cidr columns arrive as ipaddress objects; the API speaks text."""
    return None if value is None else str(value)


class Nic(Entity):
    vm_id: UUID
    network_id: UUID
    mac: str
    ip_address: str | None = None
    device_id: int = 0
    is_default: bool = True
    state: str = "Allocated"

    _addr = field_validator("ip_address", mode="before")(_address_text)


class Network(Entity):
    zone_id: UUID
    name: str
    kind: str = "shared"
    cidr: str | None = None
    gateway: str | None = None
    ip_start: str | None = None
    ip_end: str | None = None
    segment: str | None = None
    owner: str | None = None
    is_default: bool = False
    state: str = "Allocated"

    _addr = field_validator("cidr", "gateway", "ip_start", "ip_end", mode="before")(_address_text)
