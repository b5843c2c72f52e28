"""The hypervisor contract every compute driver implements.

Post-conditions are stated per method. All methods are coroutines; implementations over
blocking libraries (libvirt) run those calls off the event loop.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from strato.domain.compute import PowerState, VmPowerInfo, VmSpec
from strato.domain.payloads import HostFacts

# Keys of ``capabilities``; workflows consult these instead of guessing.
CAPABILITIES = (
    "hotplug_disk",
    "hotplug_nic",
    "live_scale",
    "snapshot_memory",
    "migration",
    "console",
)


class HypervisorDriver(abc.ABC):
    name: str = "abstract"

    @property
    @abc.abstractmethod
    def capabilities(self) -> Mapping[str, bool]:
        """Which optional operations this driver supports (keys from ``CAPABILITIES``)."""

    @abc.abstractmethod
    async def host_facts(self) -> HostFacts:
        """Report CPU, memory, hypervisor version and capabilities of the host.

        Raises if the hypervisor cannot be reached; never returns partial facts.
        """

    @abc.abstractmethod
    async def define_vm(self, spec: VmSpec) -> None:
        """Ensure a VM named ``spec.name`` is defined as ``spec`` says.

        Idempotent: defining an existing VM converges its definition; it does not fail.
        """

    @abc.abstractmethod
    async def start_vm(self, name: str) -> None:
        """Post-condition: the VM is running. Starting a running VM succeeds."""

    @abc.abstractmethod
    async def stop_vm(self, name: str, *, timeout_s: float = 30.0, force: bool = False) -> bool:
        """Post-condition: the VM is stopped. Graceful first unless ``force``; after
        ``timeout_s`` the VM is powered off. Stopping a stopped or missing VM succeeds.
        Returns True if the graceful shutdown sufficed."""

    @abc.abstractmethod
    async def reboot_vm(self, name: str) -> None:
        """Post-condition: the VM is running again after a restart of its guest."""

    @abc.abstractmethod
    async def scale_vm(self, name: str, cpu_count: int, memory_mb: int) -> None:
        """Post-condition: the VM's definition (and, if running and ``live_scale`` is a
        capability, the running guest) has ``cpu_count`` vCPUs and ``memory_mb`` memory.
        Idempotent. Raises if the VM runs and the driver cannot scale it live."""

    @abc.abstractmethod
    async def undefine_vm(self, name: str) -> None:
        """Post-condition: no VM named ``name`` exists (stopped first if running).

        Undefining a missing VM succeeds."""

    @abc.abstractmethod
    async def power_state(self, name: str) -> PowerState:
        """The VM's power state; ``MISSING`` if it is not defined."""

    @abc.abstractmethod
    async def list_vms(self) -> list[VmPowerInfo]:
        """Every VM this driver manages on the host, with its power state."""

    async def close(self) -> None:  # noqa: B027 - optional hook, default is nothing to release
        """Release connections. Safe to call twice."""
