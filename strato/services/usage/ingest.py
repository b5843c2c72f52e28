"""What an event means for usage: intervals opened and closed (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from strato.domain.models import Event

RUNNING_VM = "RUNNING_VM"
ALLOCATED_VM = "ALLOCATED_VM"
VOLUME = "VOLUME"
SNAPSHOT = "SNAPSHOT"
IP_ADDRESS = "IP_ADDRESS"
TYPES = (RUNNING_VM, ALLOCATED_VM, VOLUME, SNAPSHOT, IP_ADDRESS)
SIZED = frozenset({VOLUME, SNAPSHOT})  # measured in GiB-hours

_VM_GONE = frozenset({"Destroyed", "Expunging", "Expunged", "Error"})
_VOLUME_GONE = frozenset({"Destroy", "Expunging", "Expunged"})
_SNAPSHOT_GONE = frozenset({"Destroying", "Destroyed", "Error"})


@dataclass(frozen=True)
class Open:
    usage_type: str
    resource_id: UUID
    account: str
    at: datetime
    event_id: int
    offering_id: UUID | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class Close:
    usage_type: str
    resource_id: UUID
    at: datetime
    event_id: int


@dataclass(frozen=True)
class Reopen:
    """The open stretch, if any, ends here and goes on with a new offering or size."""

    usage_type: str
    resource_id: UUID
    at: datetime
    event_id: int
    offering_id: UUID | None = None
    size_bytes: int | None = None


Change = Open | Close | Reopen


@dataclass(frozen=True)
class Facts:
    """What the event does not say of its resource, read from its row."""

    offering_id: UUID | None = None
    size_bytes: int | None = None


def wanted(event: Event) -> bool:
    """Whether the event can matter to usage (an account's VM, volume, snapshot, IP)."""
    return (
        bool(event.owner)
        and event.resource_id is not None
        and event.resource_type
        in (
            "vm",
            "volume",
            "snapshot",
            "public_ip",
        )
    )


def changes(event: Event, facts: Facts) -> list[Change]:
    rid, at, eid, who = event.resource_id, event.time, event.id, event.owner or ""
    assert rid is not None

    def open_(kind: str, **kw: object) -> Open:
        return Open(kind, rid, who, at, eid, **kw)  # type: ignore[arg-type]

    def close(kind: str) -> Close:
        return Close(kind, rid, at, eid)

    t, old, new = event.type, event.old_state, event.new_state
    if event.resource_type == "vm":
        if t == "strato.vm.created":  # the offering as made (the row may have changed)
            made = event.payload.get("service_offering_id")
            offering = UUID(made) if made else facts.offering_id
            return [open_(ALLOCATED_VM, offering_id=offering)]
        if t == "strato.vm.scaled":
            offering = UUID(str(event.payload["service_offering_id"]))
            return [
                Reopen(kind, rid, at, eid, offering_id=offering)
                for kind in (ALLOCATED_VM, RUNNING_VM)
            ]
        if t == "strato.vm.state_changed":
            out: list[Change] = []
            if old == "Running" and new != "Running":
                out.append(close(RUNNING_VM))
            if new in _VM_GONE:
                out += [close(RUNNING_VM), close(ALLOCATED_VM)]
            elif old in _VM_GONE:  # recovered
                out.append(open_(ALLOCATED_VM, offering_id=facts.offering_id))
            if new == "Running" and old != "Running":
                out.append(open_(RUNNING_VM, offering_id=facts.offering_id))
            return out
    if event.resource_type == "volume":
        if t == "strato.volume.created":  # the size as made (a resize comes as its event)
            size = event.payload.get("size_bytes")
            return [open_(VOLUME, size_bytes=size if size is not None else facts.size_bytes)]
        if t == "strato.volume.resized":
            return [Reopen(VOLUME, rid, at, eid, size_bytes=int(event.payload["size_bytes"]))]
        if t == "strato.volume.state_changed":
            if new in _VOLUME_GONE and old not in _VOLUME_GONE:
                return [close(VOLUME)]
            if old in _VOLUME_GONE and new not in _VOLUME_GONE:
                return [open_(VOLUME, size_bytes=facts.size_bytes)]
    if event.resource_type == "snapshot":
        if t == "strato.snapshot.created":
            return [open_(SNAPSHOT, size_bytes=facts.size_bytes)]
        if t == "strato.snapshot.state_changed" and new in _SNAPSHOT_GONE:
            return [close(SNAPSHOT)]
    if event.resource_type == "public_ip":
        if t == "strato.public_ip.allocated":
            return [open_(IP_ADDRESS)]
        if t == "strato.public_ip.released":
            return [close(IP_ADDRESS)]
    return []
