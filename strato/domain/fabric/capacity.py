"""Capacity as operators read it (CloudStack's listCapacity): what each zone, pod,
cluster, host, pool and physical network has, and how much of it is allocated.

CPU and memory count what hosts offer after overcommit and reservations (the planners'
figures); zones, pods and clusters sum their Up hosts. Storage is a pool's size and its
allocated bytes (claims), with the bytes used on disk. Public IPs are a zone's addresses;
VLANs a physical network's segments. An entry over its kind's notification threshold
raises a ``capacity-<kind>`` alert, cleared when it falls back under.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, computed_field

Scope = Literal["zone", "pod", "cluster", "host", "pool", "physical_network"]
Kind = Literal["cpu", "memory", "storage", "public_ips", "vlans"]
KINDS: tuple[Kind, ...] = ("cpu", "memory", "storage", "public_ips", "vlans")
UNITS: dict[Kind, str] = {
    "cpu": "MHz",
    "memory": "MiB",
    "storage": "bytes",
    "public_ips": "addresses",
    "vlans": "segments",
}
# Where a kind's alert is evaluated (CloudStack: cluster for CPU and memory, pool for
# storage, zone for public IPs, physical network for VLANs).
ALERT_SCOPE: dict[Kind, Scope] = {
    "cpu": "cluster",
    "memory": "cluster",
    "storage": "pool",
    "public_ips": "zone",
    "vlans": "physical_network",
}


class CapacityEntry(BaseModel):
    scope: Scope
    id: UUID
    name: str
    zone_id: UUID
    kind: Kind
    total: int
    allocated: int
    used: int | None = None  # storage: bytes on disk

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unit(self) -> str:
        return UNITS[self.kind]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> float:
        return round(100.0 * self.allocated / self.total, 1) if self.total > 0 else 0.0


class AlertView(BaseModel):
    id: UUID
    kind: str  # capacity-<kind>, ha-failed
    resource_type: str
    resource_id: UUID
    name: str
    detail: str
    raised_at: datetime
    cleared_at: datetime | None = None


class VmUsage(BaseModel):
    """A VM's last sample: CPU use since the one before (None with one sample), its
    memory, and its cumulative disk and network counters."""

    vm_id: UUID
    host_id: UUID
    sampled_at: datetime
    cpu_percent: float | None
    vcpus: int
    memory_mb: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int


class HostUsage(BaseModel):
    """A host's running VMs' last samples, summed (samples older than ten heartbeats of
    a stopped agent are left out)."""

    host_id: UUID
    vms: int
    sampled_at: datetime | None
    cpu_cores_used: float
    cpu_percent: float | None  # of the host's cores
    memory_mb: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
