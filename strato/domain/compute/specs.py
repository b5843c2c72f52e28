"""What the compute subsystem is asked to run, and what it reports back."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class PowerState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    MISSING = "missing"


class DiskSpec(BaseModel):
    path: str
    device: str = "vda"
    format: str = "qcow2"
    bus: str = "virtio"


class NicSpec(BaseModel):
    mac: str
    network: str = ""
    bridge: str = ""
    model: str = "virtio"
    # A tap the host's network agent made and plugged (libvirt ``type='ethernet'``).
    device: str = ""


class BootSpec(BaseModel):
    """Disk boot by default; direct kernel boot when ``kernel`` is set."""

    kernel: str | None = None
    initrd: str | None = None
    cmdline: str = ""


class VmSpec(BaseModel):
    """A VM as a hypervisor defines it. ``name`` is stable per VM (derived from its uuid)."""

    name: str
    uuid: str
    cpu_count: int = Field(gt=0)
    cpu_speed_mhz: int = Field(gt=0)
    memory_mb: int = Field(gt=0)
    disks: list[DiskSpec] = Field(default_factory=list)
    nics: list[NicSpec] = Field(default_factory=list)
    boot: BootSpec = Field(default_factory=BootSpec)
    metadata: dict[str, Any] = Field(default_factory=dict)
    # The ISO in the VM's CD-ROM drive (every VM has the drive, as in CloudStack; None:
    # empty). Changed on a running VM with ``change_media``.
    cdrom: str | None = None


class VmPowerInfo(BaseModel):
    """One VM as the hypervisor sees it. ``managed`` is False for a domain that carries no
    Strato metadata (somebody else defined it on this host)."""

    name: str
    uuid: str = ""
    power: PowerState
    managed: bool = True


class ConsoleInfo(BaseModel):
    """Where a running VM's graphical console listens (VNC) and where its serial log is."""

    protocol: str = "vnc"
    host: str
    port: int = Field(gt=0)
    serial_log: str | None = None


class VmStats(BaseModel):
    """Cumulative counters for one VM, as the hypervisor reports them."""

    cpu_time_ns: int = 0
    vcpus: int = 0
    memory_mb: int = 0
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
