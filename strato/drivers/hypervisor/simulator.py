"""In-process hypervisor with tunable capacity, latency and injected faults.

One instance simulates one host. With a ``state_file`` its VMs outlive the agent (as
libvirt's domains do); without one they live in memory only, like a host that reboots
whenever its agent restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import strato.drivers.simstate as simstate
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
from strato.drivers.faults import FaultPlan
from strato.drivers.hypervisor.base import HypervisorDriver, HypervisorError, VmNotFound


class SimDisks(Protocol):
    """A simulated pool as this driver reaches it: the internal snapshots a running
    guest's QEMU would write into the disk files it holds."""

    def keep_snapshot(self, volume: str, snapshot: str) -> None: ...

    def drop_snapshot(self, volume: str, snapshot: str) -> None: ...


@dataclass
class _SimVm:
    spec: VmSpec
    power: PowerState = PowerState.STOPPED
    boots: int = 0


class SimulatorHypervisor(HypervisorDriver):
    name = "simulator"

    def __init__(
        self,
        host_name: str,
        *,
        cpu_cores: int = 32,
        cpu_speed_mhz: int = 2400,
        memory_mb: int = 131_072,
        faults: FaultPlan | None = None,
        state_file: Path | None = None,
        pools: Mapping[str, SimDisks] | None = None,
        peers: Mapping[str, SimulatorHypervisor] | None = None,
    ) -> None:
        self.host_name = host_name
        # The other simulated hosts, by name (a live migration's destinations).
        self.peers: Mapping[str, SimulatorHypervisor] = peers if peers is not None else {}
        self.cpu_cores = cpu_cores
        self.cpu_speed_mhz = cpu_speed_mhz
        self.memory_mb = memory_mb
        self.faults = faults or FaultPlan()
        self.state_file = state_file
        saved = simstate.load(state_file) or {}
        self.vms: dict[str, _SimVm] = {
            name: _SimVm(VmSpec.model_validate(v["spec"]), PowerState(v["power"]), v["boots"])
            for name, v in saved.items()
            if not name.startswith("@")
        }
        # Whole-VM snapshots with memory, by VM (their disk halves are in the pools').
        self.memory_snapshots: dict[str, set[str]] = {
            name: set(tags) for name, tags in saved.get("@memory", {}).items()
        }
        # Guests that do not answer health checks (failure injection, not persisted).
        self.silent: set[str] = set()
        # The simulated pools, by name, where the VMs' ``sim://<pool>/<volume>`` disks are.
        self.pools: Mapping[str, SimDisks] = pools if pools is not None else {}

    def _save(self) -> None:
        state: dict[str, object] = {
            n: {"spec": v.spec.model_dump(mode="json"), "power": v.power, "boots": v.boots}
            for n, v in self.vms.items()
        }
        state["@memory"] = {n: sorted(tags) for n, tags in self.memory_snapshots.items() if tags}
        simstate.save(self.state_file, state)

    def _disks(self, vm: _SimVm) -> list[tuple[SimDisks, str]]:
        """The VM's disks that are volumes of a simulated pool this driver reaches."""
        found = []
        for disk in vm.spec.disks:
            pool, _, volume = disk.path.removeprefix("sim://").partition("/")
            if disk.path.startswith("sim://") and pool in self.pools:
                found.append((self.pools[pool], volume))
        return found

    @property
    def capabilities(self) -> Mapping[str, bool]:
        return {
            "hotplug_disk": True,
            "hotplug_nic": True,
            "online_resize": True,
            # Simulated disks live in the simulated pools, which this driver cannot reach.
            "live_disk_snapshot": False,
            "live_scale": True,
            "snapshot_memory": True,
            "live_block_copy": True,
            "migration": True,
            "iso_media": True,
            "console": False,
        }

    async def host_facts(self) -> HostFacts:
        await self.faults.call("host_facts", self.host_name)
        return HostFacts(
            hypervisor="simulator",
            hypervisor_version="strato-sim 1",
            cpu_sockets=1,
            cpu_cores=self.cpu_cores,
            cpu_speed_mhz=self.cpu_speed_mhz,
            memory_total_mb=self.memory_mb,
            capabilities=dict(self.capabilities),
        )

    async def define_vm(self, spec: VmSpec) -> None:
        await self.faults.call("define_vm", self.host_name)
        existing = self.vms.get(spec.name)
        if existing is None:
            self.vms[spec.name] = _SimVm(spec)
        else:
            existing.spec = spec
        self._save()

    def _get(self, name: str) -> _SimVm:
        vm = self.vms.get(name)
        if vm is None:
            raise VmNotFound(f"VM {name} is not defined on {self.host_name}")
        return vm

    async def start_vm(self, name: str) -> None:
        await self.faults.call("start_vm", self.host_name)
        vm = self._get(name)
        if vm.power != PowerState.RUNNING:
            vm.power = PowerState.RUNNING
            vm.boots += 1
            self._save()

    async def stop_vm(self, name: str, *, timeout_s: float = 30.0, force: bool = False) -> bool:
        await self.faults.call("stop_vm", self.host_name)
        vm = self.vms.get(name)
        if vm is not None and vm.power != PowerState.STOPPED:
            vm.power = PowerState.STOPPED
            self._save()
        return not force

    async def reboot_vm(self, name: str) -> None:
        await self.faults.call("reboot_vm", self.host_name)
        vm = self._get(name)
        vm.power = PowerState.RUNNING
        vm.boots += 1
        self._save()

    async def scale_vm(self, name: str, cpu_count: int, memory_mb: int) -> None:
        await self.faults.call("scale_vm", self.host_name)
        vm = self._get(name)
        vm.spec = vm.spec.model_copy(update={"cpu_count": cpu_count, "memory_mb": memory_mb})
        self._save()

    async def undefine_vm(self, name: str) -> None:
        await self.faults.call("undefine_vm", self.host_name)
        if self.vms.pop(name, None) is not None:
            self._save()

    async def suspend_vm(self, name: str) -> None:
        await self.faults.call("suspend_vm", self.host_name)
        vm = self._get(name)
        if vm.power == PowerState.STOPPED:
            raise HypervisorError(f"VM {name} is not running")
        vm.power = PowerState.PAUSED
        self._save()

    async def resume_vm(self, name: str) -> None:
        await self.faults.call("resume_vm", self.host_name)
        vm = self._get(name)
        if vm.power == PowerState.PAUSED:
            vm.power = PowerState.RUNNING
            self._save()

    async def attach_disk(self, name: str, disk: DiskSpec) -> None:
        await self.faults.call("attach_disk", self.host_name)
        vm = self._get(name)
        disks = [d for d in vm.spec.disks if d.device != disk.device] + [disk]
        vm.spec = vm.spec.model_copy(update={"disks": disks})
        self._save()

    async def detach_disk(self, name: str, device: str) -> None:
        await self.faults.call("detach_disk", self.host_name)
        vm = self.vms.get(name)
        if vm is None:
            return
        disks = [d for d in vm.spec.disks if d.device != device]
        vm.spec = vm.spec.model_copy(update={"disks": disks})
        self._save()

    async def resize_disk(self, name: str, device: str, size_bytes: int) -> None:
        await self.faults.call("resize_disk", self.host_name)
        vm = self._get(name)
        self.require("online_resize", f"resizing {device} of running {name}")
        if not any(d.device == device for d in vm.spec.disks):
            raise HypervisorError(f"{name} has no disk at {device}")

    def _running_vm(self, name: str) -> _SimVm:
        vm = self._get(name)
        if vm.power != PowerState.RUNNING:
            raise HypervisorError(f"VM {name} is not running")
        return vm

    async def snapshot_vm(self, name: str, snapshot: str) -> None:
        await self.faults.call("snapshot_vm", self.host_name)
        vm = self._running_vm(name)
        for pool, volume in self._disks(vm):
            pool.keep_snapshot(volume, snapshot)
        self.memory_snapshots.setdefault(name, set()).add(snapshot)
        self._save()

    async def revert_vm(self, name: str, snapshot: str) -> None:
        await self.faults.call("revert_vm", self.host_name)
        self._running_vm(name)
        if snapshot not in self.memory_snapshots.get(name, set()):
            raise HypervisorError(f"VM {name} has no snapshot {snapshot} with its memory")

    async def delete_vm_snapshot(self, name: str, snapshot: str) -> None:
        await self.faults.call("delete_vm_snapshot", self.host_name)
        vm = self._running_vm(name)
        for pool, volume in self._disks(vm):
            pool.drop_snapshot(volume, snapshot)
        self.memory_snapshots.get(name, set()).discard(snapshot)
        self._save()

    async def move_disk(self, name: str, device: str, dest: str, *, shallow: bool) -> None:
        await self.faults.call("move_disk", self.host_name)
        vm = self._running_vm(name)
        disks = [
            d.model_copy(update={"path": dest}) if d.device == device else d for d in vm.spec.disks
        ]
        if not any(d.device == device for d in vm.spec.disks):
            raise HypervisorError(f"{name} has no disk at {device}")
        vm.spec = vm.spec.model_copy(update={"disks": disks})
        self._save()

    async def change_media(self, name: str, path: str | None) -> None:
        await self.faults.call("change_media", self.host_name)
        vm = self._get(name)
        if vm.power == PowerState.STOPPED:
            raise HypervisorError(f"VM {name} is not running")
        if vm.spec.cdrom != path:
            vm.spec = vm.spec.model_copy(update={"cdrom": path})
            self._save()

    async def attach_nic(self, name: str, nic: NicSpec) -> None:
        await self.faults.call("attach_nic", self.host_name)
        vm = self._get(name)
        if all(n.mac != nic.mac for n in vm.spec.nics):
            vm.spec = vm.spec.model_copy(update={"nics": [*vm.spec.nics, nic]})
            self._save()

    async def detach_nic(self, name: str, mac: str) -> None:
        await self.faults.call("detach_nic", self.host_name)
        vm = self.vms.get(name)
        if vm is None:
            return
        vm.spec = vm.spec.model_copy(update={"nics": [n for n in vm.spec.nics if n.mac != mac]})
        self._save()

    async def vm_spec(self, name: str) -> VmSpec:
        return self._get(name).spec

    async def migrate_vm(self, name: str, target_host: str, target_url: str) -> None:
        await self.faults.call("migrate_vm", self.host_name)
        target = self.peers.get(target_host)
        if target is None or target is self:
            raise HypervisorError(f"no simulated host {target_host} to migrate {name} to")
        vm = self.vms.get(name)
        if vm is None:
            if name in target.vms:  # moved already (a retried step)
                return
            raise VmNotFound(f"VM {name} is not defined on {self.host_name}")
        if vm.power != PowerState.RUNNING:
            raise HypervisorError(f"VM {name} is not running: nothing to migrate live")
        target.vms[name] = vm
        target._save()
        del self.vms[name]
        self._save()

    async def stats(self, name: str) -> VmStats:
        vm = self._get(name)
        return VmStats(
            cpu_time_ns=vm.boots * 1_000_000_000 if vm.power != PowerState.STOPPED else 0,
            vcpus=vm.spec.cpu_count,
            memory_mb=vm.spec.memory_mb,
        )

    async def console(self, name: str) -> ConsoleInfo:
        self._get(name)
        self.require("console", "a console")
        raise AssertionError("unreachable: the simulator declares no console")

    async def probe_guest(self, probe: GuestProbe) -> ProbeOutcome:
        """A simulated guest serves on any port while it runs, unless a test silenced
        it (:meth:`silence`): there is no address to connect to."""
        power = await self.power_state(probe.name)
        if power != PowerState.RUNNING:
            return ProbeOutcome(ok=False, detail=f"its domain is {power.value} on this host")
        if probe.name in self.silent:
            return ProbeOutcome(ok=False, detail=f"port {probe.port}: connection refused")
        return ProbeOutcome(ok=True, detail=f"the simulated guest answers on port {probe.port}")

    def silence(self, name: str, silent: bool = True) -> None:
        """Failure injection: the simulated guest of ``name`` stops answering checks
        (its VM keeps running), or answers again."""
        (self.silent.add if silent else self.silent.discard)(name)

    async def power_state(self, name: str) -> PowerState:
        vm = self.vms.get(name)
        return vm.power if vm is not None else PowerState.MISSING

    async def list_vms(self) -> list[VmPowerInfo]:
        return [
            VmPowerInfo(name=n, uuid=v.spec.uuid, power=v.power)
            for n, v in sorted(self.vms.items())
        ]
