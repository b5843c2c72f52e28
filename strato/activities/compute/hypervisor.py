"""Compute activities: run on ``compute@<host>`` by that host's agent, with its driver.

Each is idempotent because the driver contract's post-conditions are (define converges,
start of a running VM succeeds, undefine of a missing VM succeeds). Each heartbeats while
the driver works, so a killed agent is noticed within the workflow's heartbeat timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.activities.beat import beating
from strato.activities.collect import activities_of
from strato.activities.fabric.probe import Prober, probe_agent
from strato.domain.compute.migration import MIGRATE_ON_HOST, VM_SPEC, MigrateOnHostInput
from strato.domain.compute.payloads import (
    AttachDiskInput,
    ComputeVmInput,
    DetachDiskInput,
    DiskSnapshotInput,
    DisksSnapshotInput,
    MediaInput,
    MoveDiskInput,
    ResizeDiskInput,
)
from strato.domain.compute.specs import ConsoleInfo, VmPowerInfo, VmSpec
from strato.domain.compute.steps import (
    ATTACH_DISK,
    CHANGE_MEDIA,
    DEFINE_AND_START_VM,
    DEFINE_VM,
    DELETE_DISK_SNAPSHOT,
    DELETE_VM_SNAPSHOT,
    DETACH_DISK,
    HOST_CAPABILITIES,
    LIST_VMS,
    MOVE_DISK,
    REBOOT_VM,
    RESIZE_DISK,
    REVERT_VM,
    SCALE_VM,
    SNAPSHOT_DISK,
    SNAPSHOT_DISKS,
    SNAPSHOT_VM,
    START_VM,
    STOP_AND_UNDEFINE_VM,
    STOP_VM,
    UNDEFINE_VM,
)
from strato.domain.compute.vm_snapshots import MachineSnapshotInput
from strato.domain.fabric.ha import PROBE_HOST, ProbeInput, ProbeResult
from strato.domain.fabric.payloads import ConnectHostInput, HostFacts
from strato.domain.fabric.steps import CONNECT_HOST
from strato.domain.fleet.flows import PROBE_GUEST, GuestProbe, ProbeOutcome
from strato.drivers.hypervisor.base import HypervisorDriver


class ComputeActivities:
    def __init__(
        self, driver: HypervisorDriver, host_name: str, prober: Prober | None = None
    ) -> None:
        self.driver = driver
        self.host_name = host_name
        self.prober = prober

    @activity.defn(name=PROBE_HOST.name)
    async def probe_host(self, inp: ProbeInput) -> ProbeResult:
        """This host's agent asks a neighbour's (an investigation of the neighbour)."""
        if self.prober is not None:
            return await self.prober(inp)
        return await probe_agent(inp, self.host_name)

    @activity.defn(name=PROBE_GUEST.name)
    async def probe_guest(self, inp: GuestProbe) -> ProbeOutcome:
        """A managed service's health check of its instance on this host. Read-only."""
        return await self.driver.probe_guest(inp)

    @activity.defn(name=CONNECT_HOST.name)
    async def connect_host(self, inp: ConnectHostInput) -> HostFacts:
        """Read the host's facts from its hypervisor. Read-only, so trivially idempotent."""
        if inp.host_name != self.host_name:
            # A misrouted task would record another machine's capacity: refuse it.
            raise ApplicationError(
                f"agent for {self.host_name} received a task for {inp.host_name}",
                type="wrong-host",
                non_retryable=True,
            )
        return await beating(self.driver.host_facts())

    @activity.defn(name=VM_SPEC.name)
    async def vm_spec(self, inp: ComputeVmInput) -> VmSpec:
        """The VM's definition as its hypervisor has it (a cold migration defines it the
        same on the target)."""
        return await beating(self.driver.vm_spec(inp.name))

    @activity.defn(name=MIGRATE_ON_HOST.name)
    async def migrate_vm(self, inp: MigrateOnHostInput) -> None:
        """Live migration of a running VM to another host. Idempotent: a VM already
        gone from here to there is done."""
        await beating(self.driver.migrate_vm(inp.name, inp.target_host, inp.target_url))

    @activity.defn(name=DEFINE_VM.name)
    async def define_vm(self, spec: VmSpec) -> None:
        await beating(self.driver.define_vm(spec))

    @activity.defn(name=START_VM.name)
    async def start_vm(self, inp: ComputeVmInput) -> ConsoleInfo | None:
        """Start; return where the console listens (None without a console)."""
        await beating(self.driver.start_vm(inp.name))
        if not self.driver.capabilities.get("console"):
            return None
        return await beating(self.driver.console(inp.name))

    @activity.defn(name=DEFINE_AND_START_VM.name)
    async def define_and_start_vm(self, spec: VmSpec) -> ConsoleInfo | None:
        """Define (converging) then start: one round trip for the boot of a placed VM.
        Idempotent like its two halves."""
        await beating(self.driver.define_vm(spec))
        return await self.start_vm(ComputeVmInput(name=spec.name))

    @activity.defn(name=STOP_VM.name)
    async def stop_vm(self, inp: ComputeVmInput) -> bool:
        return await beating(
            self.driver.stop_vm(inp.name, timeout_s=inp.timeout_s, force=inp.force)
        )

    @activity.defn(name=STOP_AND_UNDEFINE_VM.name)
    async def stop_and_undefine_vm(self, inp: ComputeVmInput) -> bool:
        """Stop (gracefully up to the timeout, or forced), then undefine: a stopped VM keeps
        no domain. Idempotent: a domain already gone is stopped and undefined."""
        stopped = await self.stop_vm(inp)
        await self.undefine_vm(inp)
        return stopped

    @activity.defn(name=REBOOT_VM.name)
    async def reboot_vm(self, inp: ComputeVmInput) -> None:
        await beating(self.driver.reboot_vm(inp.name))

    @activity.defn(name=UNDEFINE_VM.name)
    async def undefine_vm(self, inp: ComputeVmInput) -> None:
        await beating(self.driver.undefine_vm(inp.name))

    @activity.defn(name=SCALE_VM.name)
    async def scale_vm(self, inp: ComputeVmInput) -> None:
        await beating(self.driver.scale_vm(inp.name, inp.cpu_count, inp.memory_mb))

    @activity.defn(name=ATTACH_DISK.name)
    async def attach_disk(self, inp: AttachDiskInput) -> None:
        """Idempotent: a disk already at that device is left as it is."""
        await beating(self.driver.attach_disk(inp.name, inp.disk))

    @activity.defn(name=DETACH_DISK.name)
    async def detach_disk(self, inp: DetachDiskInput) -> None:
        """Idempotent: detaching a missing disk (or from a missing VM) succeeds."""
        await beating(self.driver.detach_disk(inp.name, inp.device))

    @activity.defn(name=RESIZE_DISK.name)
    async def resize_disk(self, inp: ResizeDiskInput) -> None:
        """Idempotent: growing to the size the disk has is a no-op."""
        await beating(self.driver.resize_disk(inp.name, inp.device, inp.size_bytes))

    @activity.defn(name=SNAPSHOT_DISK.name)
    async def snapshot_disk(self, inp: DiskSnapshotInput) -> None:
        """Idempotent: an existing snapshot of that name stays as it is."""
        await beating(self.driver.snapshot_disk(inp.name, inp.device, inp.snapshot))

    @activity.defn(name=DELETE_DISK_SNAPSHOT.name)
    async def delete_disk_snapshot(self, inp: DiskSnapshotInput) -> None:
        """Idempotent: deleting a missing snapshot succeeds."""
        await beating(self.driver.delete_disk_snapshot(inp.name, inp.device, inp.snapshot))

    @activity.defn(name=SNAPSHOT_DISKS.name)
    async def snapshot_disks(self, inp: DisksSnapshotInput) -> None:
        """Idempotent: disks that have the snapshot already keep it."""
        await beating(self.driver.snapshot_disks(inp.name, inp.devices, inp.snapshot))

    @activity.defn(name=MOVE_DISK.name)
    async def move_disk(self, inp: MoveDiskInput) -> None:
        """Idempotent: a disk already on ``dest`` is left; a copy under way is waited for."""
        await beating(self.driver.move_disk(inp.name, inp.device, inp.dest, shallow=inp.shallow))

    @activity.defn(name=SNAPSHOT_VM.name)
    async def snapshot_vm(self, inp: MachineSnapshotInput) -> None:
        """Idempotent: an existing snapshot of that name stays as it is."""
        await beating(self.driver.snapshot_vm(inp.name, inp.snapshot))

    @activity.defn(name=REVERT_VM.name)
    async def revert_vm(self, inp: MachineSnapshotInput) -> None:
        """Idempotent: reverting again gives the same machine."""
        await beating(self.driver.revert_vm(inp.name, inp.snapshot))

    @activity.defn(name=DELETE_VM_SNAPSHOT.name)
    async def delete_vm_snapshot(self, inp: MachineSnapshotInput) -> None:
        """Idempotent: deleting a missing snapshot succeeds."""
        await beating(self.driver.delete_vm_snapshot(inp.name, inp.snapshot))

    @activity.defn(name=CHANGE_MEDIA.name)
    async def change_media(self, inp: MediaInput) -> None:
        """Idempotent: a drive that holds that medium (or is empty, to eject) is left."""
        await beating(self.driver.change_media(inp.name, inp.path))

    @activity.defn(name=HOST_CAPABILITIES.name)
    async def capabilities(self, inp: ConnectHostInput) -> dict[str, bool]:
        return dict(self.driver.capabilities)

    @activity.defn(name=LIST_VMS.name)
    async def list_vms(self) -> list[VmPowerInfo]:
        """Every domain the hypervisor has (for `strato doctor`). Read-only."""
        return await beating(self.driver.list_vms())

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
