"""The hypervisor contract every compute driver implements.

Post-conditions and idempotency are stated per method. All methods are coroutines;
implementations over blocking libraries (libvirt) run those calls off the event loop.

Exceptions (all are ``HypervisorError``)::

    HypervisorError
     +-- HypervisorUnreachable   the hypervisor cannot be reached (retry later, elsewhere)
     +-- VmNotFound              an operation that needs the VM found none (LookupError too)
     +-- NotBootable             the spec cannot boot here (missing kernel/disk): permanent
     +-- Unsupported             the driver lacks the capability this call needs: permanent
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping

from strato.domain.compute.specs import (
    ConsoleInfo,
    DiskSpec,
    NicSpec,
    PowerState,
    VmPowerInfo,
    VmSpec,
    VmStats,
)
from strato.domain.fabric.payloads import HostFacts
from strato.domain.fleet.flows import GuestProbe, ProbeOutcome
from strato.drivers.hypervisor import guests

# Keys of ``capabilities``; workflows consult these instead of guessing.
CAPABILITIES = (
    "hotplug_disk",
    "hotplug_nic",
    "online_resize",
    "live_disk_snapshot",
    "live_scale",
    "snapshot_memory",
    "live_block_copy",
    "iso_media",
    "migration",
    "console",
)


class HypervisorError(RuntimeError):
    """A hypervisor call failed."""


class MoveUncertain(HypervisorError):
    """A live disk move left the disk on neither its old file nor the new one: both
    files must be kept until someone looks."""


class HypervisorUnreachable(HypervisorError):
    """The hypervisor (libvirtd) cannot be reached."""


class VmNotFound(HypervisorError, LookupError):
    """The VM is not defined on this host."""


class NotBootable(HypervisorError):
    """The VM spec cannot boot on this host: a file it names is missing or unreadable."""


class Unsupported(HypervisorError):
    """The driver (or this host) lacks the capability the call needs."""


class HypervisorDriver(abc.ABC):
    name: str = "abstract"

    @property
    @abc.abstractmethod
    def capabilities(self) -> Mapping[str, bool]:
        """Which optional operations this driver supports (keys from ``CAPABILITIES``)."""

    def require(self, capability: str, what: str) -> None:
        """Raise ``Unsupported`` naming ``what`` unless ``capability`` is declared."""
        if not self.capabilities.get(capability, False):
            raise Unsupported(f"{what} is not supported by the {self.name} driver ({capability})")

    @abc.abstractmethod
    async def host_facts(self) -> HostFacts:
        """Report CPU, memory, hypervisor version and capabilities of the host.

        Raises ``HypervisorUnreachable`` if the hypervisor cannot be reached; never
        returns partial facts.
        """

    @abc.abstractmethod
    async def define_vm(self, spec: VmSpec) -> None:
        """Ensure a VM named ``spec.name`` is defined as ``spec`` says.

        Idempotent: defining an existing VM converges its definition (a running VM gets
        it at its next boot); it does not fail. Raises ``NotBootable`` (and defines
        nothing) if a kernel, initrd or disk the spec names is missing.
        """

    @abc.abstractmethod
    async def start_vm(self, name: str) -> None:
        """Post-condition: the VM is running. Starting a running VM succeeds.
        Raises ``VmNotFound`` if it is not defined."""

    @abc.abstractmethod
    async def stop_vm(self, name: str, *, timeout_s: float = 30.0, force: bool = False) -> bool:
        """Post-condition: the VM is stopped. Graceful first unless ``force``; after
        ``timeout_s`` the VM is powered off. Stopping a stopped or missing VM succeeds.
        Returns True if the graceful shutdown sufficed (or nothing had to be done)."""

    @abc.abstractmethod
    async def reboot_vm(self, name: str) -> None:
        """Post-condition: the VM is running again after a restart of its guest (a guest
        that ignores the graceful request is reset). A stopped VM is started."""

    @abc.abstractmethod
    async def suspend_vm(self, name: str) -> None:
        """Post-condition: the VM is paused (its vCPUs stopped, memory kept).
        Suspending a paused VM succeeds; raises ``VmNotFound`` / ``HypervisorError`` if it
        is missing or not running."""

    @abc.abstractmethod
    async def resume_vm(self, name: str) -> None:
        """Post-condition: a paused VM runs again. Resuming a running VM succeeds."""

    @abc.abstractmethod
    async def scale_vm(self, name: str, cpu_count: int, memory_mb: int) -> None:
        """Post-condition: the VM's definition (and, if running and ``live_scale`` is a
        capability, the running guest) has ``cpu_count`` vCPUs and ``memory_mb`` memory.
        Idempotent. Raises ``Unsupported`` if the VM runs and the driver cannot scale it
        live."""

    @abc.abstractmethod
    async def undefine_vm(self, name: str) -> None:
        """Post-condition: no VM named ``name`` exists (powered off first if running) and
        its console log is gone. Undefining a missing VM succeeds."""

    @abc.abstractmethod
    async def attach_disk(self, name: str, disk: DiskSpec) -> None:
        """Post-condition: the VM has ``disk`` at ``disk.device`` in its definition and,
        if running, in the running guest (needs ``hotplug_disk``, else ``Unsupported``).
        Attaching a disk that is already attached at that device succeeds."""

    @abc.abstractmethod
    async def detach_disk(self, name: str, device: str) -> None:
        """Post-condition: no disk at ``device`` (definition and running guest).
        Detaching a missing disk succeeds."""

    @abc.abstractmethod
    async def resize_disk(self, name: str, device: str, size_bytes: int) -> None:
        """Post-condition: the running VM's disk at ``device`` (and its image) is
        ``size_bytes`` large, grown in place while the guest runs (needs
        ``online_resize``, else ``Unsupported``). Growing to the current size succeeds.
        Raises VmNotFound, and HypervisorError for a device the VM has not got."""

    async def snapshot_disk(self, name: str, device: str, snapshot: str) -> None:
        """Post-condition: the running VM's disk at ``device`` has a snapshot ``snapshot``
        of its content now, taken by the hypervisor that holds the image (qcow2: an
        internal snapshot, listed by the pool like one it took). Needs
        ``live_disk_snapshot``. Idempotent: an existing snapshot of that name stays."""
        self.require("live_disk_snapshot", f"snapshotting {device} of running {name}")

    async def snapshot_disks(self, name: str, devices: list[str], snapshot: str) -> None:
        """Post-condition: each of the running VM's disks at ``devices`` has a snapshot
        ``snapshot``, all of their content at one instant (all are taken, or none). Needs
        ``live_disk_snapshot``. Idempotent: disks that have it already keep it."""
        self.require("live_disk_snapshot", f"snapshotting the disks of running {name}")

    async def delete_disk_snapshot(self, name: str, device: str, snapshot: str) -> None:
        """Post-condition: no snapshot ``snapshot`` on the running VM's disk at
        ``device``; its content is untouched. Needs ``live_disk_snapshot``. Deleting a
        missing snapshot succeeds."""
        self.require("live_disk_snapshot", f"deleting a snapshot of {device} of running {name}")

    async def move_disk(self, name: str, device: str, dest: str, *, shallow: bool) -> None:
        """Post-condition: the running VM's disk at ``device`` is served from the file
        ``dest`` (prepared by its pool: the disk's size; with ``shallow``, a backing chain
        with the same content as the disk's), holding the disk's data; the guest ran on
        throughout. Needs ``live_block_copy``. Idempotent: a disk on ``dest`` already is
        left. Raises HypervisorError with the disk still on its old file."""
        self.require("live_block_copy", f"moving {device} of running {name}")

    async def change_media(self, name: str, path: str | None) -> None:
        """Post-condition: the running VM's CD-ROM drive holds the image ``path`` (None:
        it is empty), in its definition too. Needs ``iso_media``. Idempotent. Raises
        VmNotFound, and HypervisorError for a VM that has no CD-ROM drive."""
        self.require("iso_media", f"changing the CD-ROM of running {name}")

    async def snapshot_vm(self, name: str, snapshot: str) -> None:
        """Post-condition: the running VM has a snapshot ``snapshot`` of its disks and its
        memory, taken at one instant (the guest pauses while it is written). Needs
        ``snapshot_memory``. Idempotent: an existing snapshot of that name stays."""
        self.require("snapshot_memory", f"snapshotting running {name} with its memory")

    async def revert_vm(self, name: str, snapshot: str) -> None:
        """Post-condition: the running VM is back at ``snapshot``: its disks, memory and
        devices as they were. Needs ``snapshot_memory``. Raises HypervisorError for a
        snapshot the VM has not got."""
        self.require("snapshot_memory", f"reverting running {name} to a snapshot")

    async def delete_vm_snapshot(self, name: str, snapshot: str) -> None:
        """Post-condition: the running VM has no snapshot ``snapshot`` (its disks keep
        their content). Needs ``snapshot_memory``. Deleting a missing one succeeds."""
        self.require("snapshot_memory", f"deleting a snapshot of running {name}")

    @abc.abstractmethod
    async def attach_nic(self, name: str, nic: NicSpec) -> None:
        """Post-condition: the VM has a NIC with ``nic.mac`` (needs ``hotplug_nic`` if it
        runs). Attaching a NIC whose MAC is already present succeeds."""

    @abc.abstractmethod
    async def detach_nic(self, name: str, mac: str) -> None:
        """Post-condition: no NIC with ``mac``. Detaching a missing NIC succeeds."""

    @abc.abstractmethod
    async def power_state(self, name: str) -> PowerState:
        """The VM's power state; ``MISSING`` if it is not defined."""

    @abc.abstractmethod
    async def list_vms(self) -> list[VmPowerInfo]:
        """Every VM this driver manages on the host, with its power state, plus domains
        without Strato metadata (``managed=False``) so drift can be reported."""

    @abc.abstractmethod
    async def vm_spec(self, name: str) -> VmSpec:
        """The VM's current definition, read back from the hypervisor (disks and NICs
        included). Raises ``VmNotFound`` if it is not defined."""

    async def migrate_vm(self, name: str, target_host: str, target_url: str) -> None:
        """Move the running VM to ``target_host`` (its hypervisor at ``target_url``) while
        it runs: post-condition, it runs there and is not defined here. Needs the
        ``migration`` capability."""
        self.require("migration", "live migration")

    @abc.abstractmethod
    async def stats(self, name: str) -> VmStats:
        """Cumulative CPU, memory, disk and network counters. Raises ``VmNotFound``."""

    @abc.abstractmethod
    async def console(self, name: str) -> ConsoleInfo:
        """Where the running VM's console listens (needs ``console``, else
        ``Unsupported``). Raises ``HypervisorError`` if the VM is not running."""

    async def probe_guest(self, probe: GuestProbe) -> ProbeOutcome:
        """Whether the guest of VM ``probe.name`` serves, asked from this host: its domain
        must run here, then its address must answer the check (a TCP connect, or an HTTP
        GET answered 2xx/3xx). Never raises: a failure is an outcome saying why."""
        power = await self.power_state(probe.name)
        if power != PowerState.RUNNING:
            return ProbeOutcome(ok=False, detail=f"its domain is {power.value} on this host")
        return await guests.probe_address(probe)

    def on_change(self, callback: Callable[[str], None]) -> None:  # noqa: B027 - optional
        """Ask to be told (on the caller's event loop) the name of a VM whose power state
        changed outside a call of this driver. Drivers without events never call it; the
        agent's periodic report still catches the change."""

    async def close(self) -> None:  # noqa: B027 - optional hook, default is nothing to release
        """Release connections. Safe to call twice."""
