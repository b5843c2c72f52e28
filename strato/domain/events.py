"""The catalog of event types: every event Strato writes is named here, with its payload.

An event is one row of the transactional outbox, written in the transaction of the change
it reports, and served as a CloudEvents 1.0 envelope (``type`` is the CloudEvents type,
``subject`` is ``<resource type>/<id>``, ``data`` is the payload plus ``old_state``,
``new_state`` and ``operation_id`` when set). The outbox refuses a type that is not in
the catalog and a payload its model rejects, so this module is the whole vocabulary;
``docs/events.md`` is generated from it (``python -m strato.domain.events``). A service
adds its own types with :func:`register`."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoPayload(Payload):
    pass


class Named(Payload):
    name: str | None = None


class Created(Named):  # and what usage is measured by, as it was made
    size_bytes: int | None = None
    service_offering_id: str | None = None


class Changed(Payload):
    changed: list[str]


class VmStateChanged(Payload):
    error: str | None = None


class Reason(Payload):
    reason: str | None = None


class OperationFailed(Payload):
    kind: str | None = None
    error: str


class VmScaled(Payload):
    service_offering_id: str
    cpu_count: int
    memory_mb: int


class VmIso(Payload):
    iso_id: str


class VolumeAttached(Payload):
    vm_id: str
    device: str


class VolumeDetached(Payload):
    vm_id: str
    device: str | None = None


class VolumeResized(Payload):
    size_bytes: int
    old_size_bytes: int


class SnapshotRef(Payload):
    snapshot_id: str
    snapshot: str


class TemplateCached(Payload):
    pool_id: str
    size_bytes: int


class TemplateEvicted(Payload):
    pool_id: str


class VmDrift(Payload):
    host: str
    recorded: str
    observed: str
    corrected_to: str
    detail: str


class HostRegistered(Payload):
    agent_id: str
    url: str


class UnknownDomain(Payload):
    host: str
    domain: str
    reason: str
    report: str


class HostInvestigated(Payload):
    outage: int
    prober: str
    reachable: bool
    detail: str


class VmFenced(Payload):
    host: str
    outage: int
    ha: bool


class VmMigrated(Payload):
    source: str
    target: str
    live: bool


class FencesCleared(Payload):
    outage: int
    vms: int


class Alert(Payload):
    kind: str
    detail: str
    host: str | None = None


class IpAllocated(Payload):
    ip: str
    network: str


class IpReleased(Payload):
    ips: list[str]


class PublicIpChanged(Payload):
    address: str
    owner: str


class NetworkChanged(Payload):
    name: str
    segment: str | None = None
    router_host: str | None = None
    generation: int = 0


class Repaired(Payload):
    check: str
    detail: str
    fix: str


@dataclass(frozen=True)
class EventType:
    type: str  # the CloudEvents type
    resource: str  # the resource type it is about ("*": any)
    payload: builtins.type[Payload]
    summary: str


_CATALOG: dict[str, EventType] = {}


def register(*types: EventType) -> None:
    """Add event types (an optional service's). A type is registered once."""
    for et in types:
        known = _CATALOG.get(et.type)
        if known is not None and known != et:
            raise ValueError(f"event type {et.type} is already registered differently")
        _CATALOG[et.type] = et


def lookup(type: str) -> EventType | None:
    return _CATALOG.get(type)


def catalog() -> list[EventType]:
    return sorted(_CATALOG.values(), key=lambda e: e.type)


def check(type: str, payload: dict[str, Any] | None) -> None:
    """Raise ValueError unless ``type`` is in the catalog and ``payload`` fits its model."""
    et = _CATALOG.get(type)
    if et is None:
        raise ValueError(f"event type {type!r} is not in the catalog (strato.domain.events)")
    et.payload.model_validate(payload or {})


# Resources with a generic lifecycle (the REST CRUD routes).
CRUD_RESOURCES = (
    "zone",
    "pod",
    "cluster",
    "host",
    "storage_pool",
    "service_offering",
    "disk_offering",
    "template",
    "image_store",
    "backup_offering",
    "backup_schedule",
    "backup",
    "network",
    "affinity_group",
    "ssh_key_pair",
    "vm",
    "volume",
    "snapshot",
    "snapshot_policy",
    "vm_snapshot",
    "physical_network",
    "public_ip_range",
    "network_offering",
    "port_forwarding_rule",
    "firewall_rule",
    "security_group",
    "security_group_rule",
    "egress_rule",
    "webhook",
    "event_signal",
    "managed_service",
)
for _r in CRUD_RESOURCES:
    register(
        EventType(f"strato.{_r}.created", _r, Created, "created"),
        EventType(f"strato.{_r}.updated", _r, Changed, "fields changed (`changed` names them)"),
        EventType(f"strato.{_r}.deleted", _r, Named, "deleted"),
    )
for _r in set(CRUD_RESOURCES) - {
    "vm",
    "host",
    "volume",
    "snapshot",
    "snapshot_policy",
    "template",
    "backup",
    "vm_snapshot",
    "public_ip_range",
    "port_forwarding_rule",
    "firewall_rule",
    "security_group",
    "security_group_rule",
    "egress_rule",
    "webhook",
    "event_signal",
}:
    register(EventType(f"strato.{_r}.state_changed", _r, NoPayload, "an admin changed its state"))

register(
    EventType(
        "strato.vm.state_changed",
        "vm",
        VmStateChanged,
        "a VM moved state (error: why, if it failed)",
    ),
    EventType(
        "strato.vm.operation_failed",
        "vm",
        OperationFailed,
        "an operation on the VM failed in a way its code did not handle; the guard settled it",
    ),
    EventType("strato.vm.rebooted", "vm", NoPayload, "a VM was rebooted on its host"),
    EventType("strato.vm.scaled", "vm", VmScaled, "a VM got a new service offering"),
    EventType("strato.vm.iso_attached", "vm", VmIso, "an ISO was put in a VM's CD-ROM drive"),
    EventType("strato.vm.iso_detached", "vm", VmIso, "the ISO was taken out of a VM's drive"),
    EventType(
        "strato.vm.drift",
        "vm",
        VmDrift,
        "a host's report corrected a VM's recorded power state",
    ),
    EventType("strato.host.state_changed", "host", Reason, "a host's connection status changed"),
    EventType("strato.host.registered", "host", HostRegistered, "a host's agent registered"),
    EventType(
        "strato.host.resource_state_changed",
        "host",
        Reason,
        "a host's resource state changed (maintenance: PrepareForMaintenance, Maintenance, "
        "ErrorInMaintenance; back to Enabled)",
    ),
    EventType(
        "strato.host.investigated",
        "host",
        HostInvestigated,
        "a probe of a silent host's agent (by a neighbour or the orchestrator) decided its state",
    ),
    EventType(
        "strato.host.fences_cleared",
        "host",
        FencesCleared,
        "a host back from Down has destroyed its fenced VMs' domains (it is Up next)",
    ),
    EventType(
        "strato.vm.migrated",
        "vm",
        VmMigrated,
        "a VM moved to another host (`live`: while it ran)",
    ),
    EventType(
        "strato.vm.fenced",
        "vm",
        VmFenced,
        "its host was declared Down: the VM was stopped there (HA starts it elsewhere if `ha`)",
    ),
    EventType(
        "strato.alert.raised",
        "*",
        Alert,
        "something needs an operator (`kind`: ha-failed, capacity-cpu, capacity-memory, "
        "capacity-storage, capacity-public_ips, capacity-vlans)",
    ),
    EventType(
        "strato.alert.cleared",
        "*",
        Alert,
        "an alert no longer holds (capacity back under its notification threshold)",
    ),
    EventType(
        "strato.host.unknown_vm",
        "host",
        UnknownDomain,
        "a host runs a domain Strato cannot account for (reported once per report)",
    ),
    EventType("strato.volume.state_changed", "volume", Reason, "a volume moved state"),
    EventType(
        "strato.volume.attached", "volume", VolumeAttached, "a data volume was attached to a VM"
    ),
    EventType(
        "strato.volume.detached",
        "volume",
        VolumeDetached,
        "a data volume was detached from a VM (or its VM was expunged)",
    ),
    EventType("strato.volume.resized", "volume", VolumeResized, "a volume got a new size"),
    EventType("strato.volume.reverted", "volume", SnapshotRef, "a volume went back to a snapshot"),
    EventType("strato.snapshot.state_changed", "snapshot", Reason, "a snapshot moved state"),
    EventType("strato.template.state_changed", "template", Reason, "a template moved state"),
    EventType("strato.backup.state_changed", "backup", Reason, "a VM backup moved state"),
    EventType(
        "strato.vm_snapshot.state_changed",
        "vm_snapshot",
        Reason,
        "a VM snapshot moved state (Reverting -> Ready: the VM is back at it)",
    ),
    EventType(
        "strato.template.cached",
        "template",
        TemplateCached,
        "a template was copied to a primary pool (root disks there are thin clones of it)",
    ),
    EventType(
        "strato.template.evicted",
        "template",
        TemplateEvicted,
        "a template's copy on a pool was removed: no volume there was cloned from it",
    ),
    EventType(
        "strato.volume.operation_failed",
        "volume",
        OperationFailed,
        "an operation on the volume failed in a way its code did not handle; the guard settled it",
    ),
    EventType("strato.ip.allocated", "vm", IpAllocated, "a VM's NIC got an address"),
    EventType(
        "strato.public_ip.allocated", "public_ip", PublicIpChanged, "a public IP was acquired"
    ),
    EventType(
        "strato.public_ip.released", "public_ip", PublicIpChanged, "a public IP was released"
    ),
    EventType("strato.ip.released", "vm", IpReleased, "a VM's addresses went back to the pool"),
    EventType(
        "strato.network.implemented",
        "network",
        NetworkChanged,
        "a guest network got its segment, source-NAT address and router host (its first VM)",
    ),
    EventType(
        "strato.network.applied",
        "network",
        NetworkChanged,
        "a guest network's router was applied whole (its leases, NAT and firewall rules)",
    ),
    EventType(
        "strato.network.shutdown",
        "network",
        NetworkChanged,
        "a guest network's router and segment were released (no VM of it runs)",
    ),
    EventType("strato.network.destroyed", "network", NetworkChanged, "a guest network was deleted"),
    EventType(
        "strato.doctor.repaired",
        "*",
        Repaired,
        "strato doctor --repair fixed a discrepancy (check, what it found, what it did)",
    ),
)


# The services directory's own types (strato.domain.directory.events) register here too.
from strato.domain.directory import events as _directory_events  # noqa: E402, F401
from strato.domain.fleet import events as _fleet_events  # noqa: E402, F401


def markdown() -> str:
    """The catalog as a Markdown table (docs/events.md)."""
    lines = [
        "# Event types",
        "",
        "Generated from `strato/domain/events.py` by `python -m strato.domain.events`;"
        " a test keeps it current.",
        "Every event is a CloudEvents 1.0 envelope: `type` below, `subject` ="
        " `<resource>/<id>`, `data` = the payload fields plus `old_state`, `new_state`"
        " and `operation_id` when set. Read them with `GET /api/v1/events?after=<id>`"
        " or the SSE stream `GET /api/v1/events/stream`.",
        "",
        "| type | resource | payload | meaning |",
        "|---|---|---|---|",
    ]
    for et in catalog():
        fields = ", ".join(
            f"`{name}`" + ("" if f.is_required() else "?")
            for name, f in et.payload.model_fields.items()
        )
        lines.append(f"| `{et.type}` | {et.resource} | {fields or '-'} | {et.summary} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # The catalog of the imported module (the one every registration reaches), not of
    # this __main__ copy.
    from strato.domain import events as _catalog

    print(_catalog.markdown(), end="")
