"""What events mean for usage (strato.services.usage.ingest), case by case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from strato.domain.models import Event
from strato.services.usage.ingest import Close, Facts, Open, Reopen, changes, wanted

AT = datetime(2026, 12, 1, tzinfo=UTC)
VM = uuid4()
OFFER = uuid4()


def _ev(
    type: str, kind: str = "vm", old: str | None = None, new: str | None = None, **payload: Any
) -> Event:
    return Event(id=7, time=AT, type=type, resource_type=kind, resource_id=VM, old_state=old,
                 new_state=new, payload=payload, owner="acct")  # fmt: skip


def test_vm_states_open_and_close_running_and_allocated() -> None:
    f = Facts(offering_id=OFFER)
    assert changes(_ev("strato.vm.created"), f) == [Open("ALLOCATED_VM", VM, "acct", AT, 7, OFFER)]
    assert changes(_ev("strato.vm.state_changed", old="Starting", new="Running"), f) == [
        Open("RUNNING_VM", VM, "acct", AT, 7, OFFER)
    ]
    assert changes(_ev("strato.vm.state_changed", old="Running", new="Stopping"), f) == [
        Close("RUNNING_VM", VM, AT, 7)
    ]
    gone = changes(_ev("strato.vm.state_changed", old="Stopped", new="Destroyed"), f)
    assert set(gone) == {Close("RUNNING_VM", VM, AT, 7), Close("ALLOCATED_VM", VM, AT, 7)}
    back = changes(_ev("strato.vm.state_changed", old="Destroyed", new="Stopped"), f)
    assert back == [Open("ALLOCATED_VM", VM, "acct", AT, 7, OFFER)]  # recovered
    other = uuid4()
    scaled = changes(_ev("strato.vm.scaled", service_offering_id=str(other)), f)
    assert scaled == [
        Reopen("ALLOCATED_VM", VM, AT, 7, other),
        Reopen("RUNNING_VM", VM, AT, 7, other),
    ]


def test_volumes_snapshots_and_addresses() -> None:
    f = Facts(size_bytes=5 << 30)
    assert changes(_ev("strato.volume.created", "volume"), f) == [
        Open("VOLUME", VM, "acct", AT, 7, size_bytes=5 << 30)
    ]
    resized = changes(_ev("strato.volume.resized", "volume", size_bytes=8 << 30), f)
    assert resized == [Reopen("VOLUME", VM, AT, 7, size_bytes=8 << 30)]
    assert changes(_ev("strato.volume.state_changed", "volume", "Ready", "Destroy"), f) == [
        Close("VOLUME", VM, AT, 7)
    ]
    assert changes(_ev("strato.volume.state_changed", "volume", "Destroy", "Expunging"), f) == []
    assert changes(
        _ev("strato.snapshot.state_changed", "snapshot", "BackedUp", "Destroyed"), f
    ) == [Close("SNAPSHOT", VM, AT, 7)]
    assert changes(_ev("strato.public_ip.allocated", "public_ip"), f) == [
        Open("IP_ADDRESS", VM, "acct", AT, 7)
    ]


def test_the_clouds_own_and_other_resources_are_not_usage() -> None:
    assert not wanted(_ev("strato.vm.created").model_copy(update={"owner": ""}))
    assert not wanted(_ev("strato.host.created", "host"))
    assert wanted(_ev("strato.vm.created"))
