"""The hypervisor contract's post-conditions, run against every driver: the simulator,
libvirt's ``test:///default`` driver and real QEMU (TCG) through ``qemu:///system``.

What a driver does not support is skipped by its declared capability, never by name.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strato.domain.compute.specs import BootSpec, DiskSpec, NicSpec, PowerState, VmSpec
from strato.drivers.faults import FaultPlan, InjectedFault
from strato.drivers.hypervisor.base import (
    CAPABILITIES,
    HypervisorDriver,
    HypervisorError,
    Unsupported,
    VmNotFound,
)
from strato.drivers.hypervisor.simulator import SimulatorHypervisor
from strato.drivers.registry import UnknownDriver, load
from tests.helpers import LAB_ROOT
from tests.lab import GUEST_CMDLINE, TINY_GUEST, Lab, libvirt_module, rfb_banner, wait_console


@dataclass
class Subject:
    """A driver under test and how to make a VM spec it can really run."""

    driver: HypervisorDriver
    kind: str
    dir: Path | None = None
    booted_marker: str | None = None

    def disk(self, name: str, size_mb: int = 16) -> str:
        if self.dir is None:
            return f"/nonexistent/{name}.qcow2"
        path = self.dir / f"{name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_mb}M"], check=True
        )
        return str(path)

    def spec(self, name: str, memory_mb: int = 96) -> VmSpec:
        boot = BootSpec()
        if self.dir is not None:
            boot = BootSpec(
                kernel=str(TINY_GUEST / "vmlinuz"),
                initrd=str(TINY_GUEST / "initrd.img"),
                cmdline=GUEST_CMDLINE,
            )
        return VmSpec(
            name=name,
            uuid=str(uuid.uuid4()),
            cpu_count=1,
            cpu_speed_mhz=1000,
            memory_mb=memory_mb,
            disks=[DiskSpec(path=self.disk(f"{name}-root"))],
            nics=[NicSpec(mac="52:54:00:12:34:56")],
            boot=boot,
            metadata={"vm": name},
        )

    async def booted(self, name: str, count: int = 1) -> None:
        """Wait until the guest ran its init (only real guests have one)."""
        if self.booted_marker is None:
            return
        info = await self.driver.console(name)
        assert info.serial_log is not None
        await wait_console(info.serial_log, self.booted_marker, count)


DRIVERS = ["simulator", "libvirt-test", "libvirt-qemu"]


@pytest.fixture(params=DRIVERS)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "simulator":
        yield Subject(load("hypervisor", "simulator")("h1"), "simulator")
        return
    libvirt_module()  # skips (or fails under STRATO_REQUIRE_LIBVIRT) without bindings
    cls = load("hypervisor", "libvirt")
    if request.param == "libvirt-test":
        driver = cls("h1", uri="test:///default")
        yield Subject(driver, "libvirt-test")
        await driver.close()
        return
    the_lab: Lab = request.getfixturevalue("lab")
    driver = cls(
        the_lab.host(),
        uri="qemu:///system",
        console_dir=str(the_lab.dir / "console"),
        reboot_timeout_s=20,
        image_roots=(str(TINY_GUEST.parent),),
        pool_roots=(str(LAB_ROOT),),
    )
    yield Subject(driver, "libvirt-qemu", the_lab.dir, "STRATO-GUEST-BOOTED")
    await driver.close()


def name_for(subject: Subject) -> str:
    if subject.dir is not None:
        return f"{subject.dir.name}-vm{uuid.uuid4().hex[:4]}"
    return "vm-1"


async def managed(driver: HypervisorDriver) -> list[str]:
    return [v.name for v in await driver.list_vms() if v.managed]


async def test_capabilities_cover_the_known_keys(subject: Subject) -> None:
    assert set(subject.driver.capabilities) == set(CAPABILITIES)


async def test_facts_are_complete(subject: Subject) -> None:
    facts = await subject.driver.host_facts()
    assert facts.cpu_cores > 0 and facts.memory_total_mb > 0 and facts.cpu_speed_mhz > 0
    assert facts.capabilities == dict(subject.driver.capabilities)


async def test_define_is_idempotent_and_converges(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    spec = subject.spec(name)
    await d.define_vm(spec)
    await d.define_vm(spec.model_copy(update={"memory_mb": 128, "cpu_count": 2}))
    assert await managed(d) == [name]
    assert await d.power_state(name) == PowerState.STOPPED
    back = await d.vm_spec(name)
    assert (back.memory_mb, back.cpu_count) == (128, 2)
    assert [disk.device for disk in back.disks] == ["vda"]
    assert [n.mac for n in back.nics] == ["52:54:00:12:34:56"]


async def test_start_stop_reboot_post_conditions(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await d.start_vm(name)  # starting a running VM succeeds
    assert await d.power_state(name) == PowerState.RUNNING
    await subject.booted(name)
    await d.reboot_vm(name)
    assert await d.power_state(name) == PowerState.RUNNING
    await subject.booted(name, count=2)  # a real guest really booted again
    assert await d.stop_vm(name, timeout_s=20) is True  # the guest honoured the request
    assert await d.stop_vm(name, timeout_s=1) is True  # stopping a stopped VM succeeds
    assert await d.power_state(name) == PowerState.STOPPED
    await d.start_vm(name)
    assert await d.stop_vm(name, force=True) is False  # forced: powered off, not asked
    assert await d.power_state(name) == PowerState.STOPPED


async def test_missing_vm_errors_and_idempotent_removal(subject: Subject) -> None:
    d = subject.driver
    missing = f"{name_for(subject)}-never"
    assert await d.power_state(missing) == PowerState.MISSING
    assert await d.stop_vm(missing) is True
    await d.undefine_vm(missing)
    await d.detach_disk(missing, "vdb")
    await d.detach_nic(missing, "52:54:00:00:00:01")
    for call in (d.start_vm(missing), d.vm_spec(missing), d.stats(missing)):
        with pytest.raises(VmNotFound):
            await call


async def test_undefine_removes_a_running_vm(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await d.undefine_vm(name)
    await d.undefine_vm(name)
    assert await d.power_state(name) == PowerState.MISSING
    assert name not in await managed(d)


async def test_suspend_and_resume(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    with pytest.raises(HypervisorError):
        await d.suspend_vm(name)  # a stopped VM cannot be paused
    await d.start_vm(name)
    await d.suspend_vm(name)
    await d.suspend_vm(name)
    assert await d.power_state(name) == PowerState.PAUSED
    await d.resume_vm(name)
    await d.resume_vm(name)
    assert await d.power_state(name) == PowerState.RUNNING
    await d.undefine_vm(name)


async def test_scale_converges_and_live_scale_follows_capability(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.scale_vm(name, 2, 160)
    await d.scale_vm(name, 2, 160)
    back = await d.vm_spec(name)
    assert (back.cpu_count, back.memory_mb) == (2, 160)
    await d.start_vm(name)
    if d.capabilities["live_scale"]:
        await d.scale_vm(name, 1, 128)
        assert (await d.vm_spec(name)).cpu_count == 1
    else:
        with pytest.raises(Unsupported, match="live_scale"):
            await d.scale_vm(name, 1, 128)
        assert (await d.vm_spec(name)).cpu_count == 2  # nothing changed
    await d.undefine_vm(name)


async def test_disks_and_nics_on_a_stopped_vm(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    data = DiskSpec(path=subject.disk(f"{name}-data"), device="vdb")
    nic = NicSpec(mac="52:54:00:12:34:57")
    for _ in range(2):  # attaching what is attached succeeds
        await d.attach_disk(name, data)
        await d.attach_nic(name, nic)
    back = await d.vm_spec(name)
    assert [x.device for x in back.disks] == ["vda", "vdb"]
    assert [n.mac for n in back.nics] == ["52:54:00:12:34:56", "52:54:00:12:34:57"]
    for _ in range(2):  # detaching what is gone succeeds
        await d.detach_disk(name, "vdb")
        await d.detach_nic(name, nic.mac)
    back = await d.vm_spec(name)
    assert [x.device for x in back.disks] == ["vda"] and len(back.nics) == 1


async def test_hotplug_follows_capability(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await subject.booted(name)
    data = DiskSpec(path=subject.disk(f"{name}-data"), device="vdb")
    nic = NicSpec(mac="52:54:00:12:34:58")
    if not d.capabilities["hotplug_disk"]:
        with pytest.raises(Unsupported, match="hotplug_disk"):
            await d.attach_disk(name, data)
    else:
        await d.attach_disk(name, data)
        assert "vdb" in [x.device for x in (await d.vm_spec(name)).disks]
        await d.detach_disk(name, "vdb")
        assert [x.device for x in (await d.vm_spec(name)).disks] == ["vda"]
    if not d.capabilities["hotplug_nic"]:
        with pytest.raises(Unsupported, match="hotplug_nic"):
            await d.attach_nic(name, nic)
    else:
        await d.attach_nic(name, nic)
        assert nic.mac in [n.mac for n in (await d.vm_spec(name)).nics]
        await d.detach_nic(name, nic.mac)
        assert nic.mac not in [n.mac for n in (await d.vm_spec(name)).nics]
    await d.undefine_vm(name)


async def test_iso_media_follows_capability(subject: Subject) -> None:
    """Every VM has a CD-ROM drive: empty when defined without an ISO; a running VM's
    medium is changed and ejected in place (idempotent); a definition names its ISO."""
    d, name = subject.driver, name_for(subject)
    iso = "/nonexistent/boot.iso"
    if subject.dir is not None:
        iso = str(subject.dir / f"{name}.iso")
        # QEMU reads any file as the medium.
        await asyncio.to_thread(Path(iso).write_bytes, b"CD001" * 1000)
    await d.define_vm(subject.spec(name))
    assert (await d.vm_spec(name)).cdrom is None
    await d.start_vm(name)
    # A booting guest's kernel holds the tray while it probes the drive; on a loaded
    # machine (TCG, two test workers) that outlasted the driver's 30 s of asking.
    await subject.booted(name)
    if not d.capabilities["iso_media"]:
        with pytest.raises(Unsupported, match="iso_media"):
            await d.change_media(name, iso)
        await d.undefine_vm(name)
        return
    for _ in range(2):
        await d.change_media(name, iso)
        assert (await d.vm_spec(name)).cdrom == iso
    if subject.kind == "libvirt-qemu":  # QEMU itself holds the medium
        blk = subprocess.run(
            ["virsh", "-c", "qemu:///system", "domblklist", name],
            capture_output=True,
            text=True,
        )
        assert f"hdc      {iso}" in blk.stdout or iso in blk.stdout.split(), blk.stdout
    for _ in range(2):
        await d.change_media(name, None)
        assert (await d.vm_spec(name)).cdrom is None
    await d.stop_vm(name, force=True)
    with pytest.raises(HypervisorError):
        await d.change_media(name, iso)  # a stopped VM gets its ISO at its next definition
    await d.undefine_vm(name)
    await d.define_vm(subject.spec(name).model_copy(update={"cdrom": iso}))
    assert (await d.vm_spec(name)).cdrom == iso
    await d.undefine_vm(name)


async def test_console_follows_capability(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    if not d.capabilities["console"]:
        with pytest.raises(Unsupported, match="console"):
            await d.console(name)
        return
    info = await d.console(name)
    assert info.protocol == "vnc" and info.port >= 5900
    assert (await rfb_banner(info.host, info.port)).startswith(b"RFB ")
    await d.stop_vm(name, force=True)
    with pytest.raises(HypervisorError, match="not running"):
        await d.console(name)


async def test_stats_of_a_running_vm(subject: Subject) -> None:
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await subject.booted(name)
    stats = await d.stats(name)
    assert stats.vcpus == 1 and stats.memory_mb == 96
    assert stats.cpu_time_ns > 0
    if subject.kind == "libvirt-qemu":
        assert stats.disk_read_bytes > 0  # the guest's kernel probed its root disk


async def test_unknown_driver_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownDriver, match="no hypervisor driver named 'xen'"):
        load("hypervisor", "xen")


async def test_fault_plan_targets_only_named_hosts_and_ops() -> None:
    plan = FaultPlan.parse(fail_rate=1.0, fail_targets="bad", fail_ops="start_vm")
    good = SimulatorHypervisor("good", faults=plan)
    bad = SimulatorHypervisor("bad", faults=plan)
    for d in (good, bad):
        await d.define_vm(
            VmSpec(name="vm-1", uuid=str(uuid.uuid4()), cpu_count=1, cpu_speed_mhz=1, memory_mb=64)
        )
    await good.start_vm("vm-1")
    with pytest.raises(InjectedFault, match="start_vm on bad"):
        await bad.start_vm("vm-1")
    assert await bad.power_state("vm-1") == PowerState.STOPPED


async def test_fault_plan_rate_is_seeded_and_reproducible() -> None:
    async def outcomes(seed: int) -> list[bool]:
        plan = FaultPlan.parse(fail_rate=0.5, seed=seed)
        result = []
        for _ in range(40):
            try:
                await plan.call("op", "h")
                result.append(True)
            except InjectedFault:
                result.append(False)
        return result

    a, b = await outcomes(3), await outcomes(3)
    assert a == b and 5 < a.count(False) < 35


async def test_hang_is_bounded_by_the_callers_timeout() -> None:

    plan = FaultPlan.parse(hang_rate=1.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(plan.call("op", "h"), 0.1)


async def test_simulated_storage_and_network_contracts() -> None:
    from strato.domain.network.specs import NetworkSpec, PortSpec
    from strato.domain.storage.specs import VolumeSpec

    storage = load("storage", "simulator")("pool1", capacity_bytes=10 << 20)
    v1 = await storage.create_volume(VolumeSpec(name="v1", size_bytes=4 << 20))
    assert await storage.create_volume(VolumeSpec(name="v1", size_bytes=4 << 20)) == v1
    with pytest.raises(RuntimeError, match="cannot hold"):
        await storage.create_volume(VolumeSpec(name="v2", size_bytes=8 << 20))
    await storage.delete_volume("v1")
    await storage.delete_volume("v1")
    assert await storage.list_volumes() == []

    net = load("network", "simulator")("h1")
    await net.implement_network(NetworkSpec(name="n1"))
    p = await net.plug(PortSpec(network="n1", mac="02:00:00:00:00:01"))
    assert await net.plug(PortSpec(network="n1", mac="02:00:00:00:00:01")) == p
    await net.unplug("n1", p.mac)
    await net.unplug("n1", p.mac)
    assert await net.list_ports("n1") == []


async def test_vm_snapshots_with_memory_follow_capability(
    subject: Subject, request: pytest.FixtureRequest
) -> None:
    """A running VM saved whole (disks and memory) under a name, reverted to it (it keeps
    running), the snapshot deleted; each idempotent where the contract says so."""
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await subject.booted(name)
    if not d.capabilities["snapshot_memory"]:
        with pytest.raises(Unsupported, match="snapshot_memory"):
            await d.snapshot_vm(name, "s1")
        await d.undefine_vm(name)
        return
    for _ in range(2):
        await d.snapshot_vm(name, "s1")
    if subject.kind == "libvirt-qemu":  # QEMU holds it, with the VM's memory
        from strato.drivers.hypervisor.libvirt.snapshots import vm_snapshots

        dom = request.getfixturevalue("lab").conn.lookupByName(name)
        saved = await asyncio.to_thread(vm_snapshots, dom)
        assert saved.get("s1", 0) > 1 << 20, saved
    await d.revert_vm(name, "s1")
    assert await d.power_state(name) == PowerState.RUNNING
    with pytest.raises(HypervisorError, match="no snapshot"):
        await d.revert_vm(name, "nope")
    for _ in range(2):
        await d.delete_vm_snapshot(name, "s1")
    with pytest.raises(HypervisorError, match="no snapshot"):
        await d.revert_vm(name, "s1")
    await d.undefine_vm(name)


async def test_a_running_disk_moves_to_another_file_where_it_can(subject: Subject) -> None:
    """The running VM's root disk served from a new file (prepared beforehand, as a pool
    does), the guest running on; again is a no-op; a disk it has not got is refused."""
    d, name = subject.driver, name_for(subject)
    await d.define_vm(subject.spec(name))
    await d.start_vm(name)
    await subject.booted(name)
    dest = subject.disk(f"{name}-moved")
    if not d.capabilities["live_block_copy"]:
        with pytest.raises(Unsupported, match="live_block_copy"):
            await d.move_disk(name, "vda", dest, shallow=False)
        await d.undefine_vm(name)
        return
    for _ in range(2):
        await d.move_disk(name, "vda", dest, shallow=False)
    assert (await d.vm_spec(name)).disks[0].path == dest
    assert await d.power_state(name) == PowerState.RUNNING
    with pytest.raises(HypervisorError, match="no disk at vdq"):
        await d.move_disk(name, "vdq", dest, shallow=False)
    await d.undefine_vm(name)


async def test_every_disk_snapshotted_at_one_instant_where_it_can(subject: Subject) -> None:
    """Two disks of a running VM snapshotted in one call (a QMP transaction on QEMU);
    again is a no-op; each snapshot then deletes disk by disk."""
    d, name = subject.driver, name_for(subject)
    spec = subject.spec(name)
    spec.disks.append(DiskSpec(path=subject.disk(f"{name}-data"), device="vdb"))
    await d.define_vm(spec)
    await d.start_vm(name)
    await subject.booted(name)
    if not d.capabilities["live_disk_snapshot"]:
        with pytest.raises(Unsupported, match="live_disk_snapshot"):
            await d.snapshot_disks(name, ["vda", "vdb"], "t1")
        await d.undefine_vm(name)
        return
    for _ in range(2):
        await d.snapshot_disks(name, ["vda", "vdb"], "t1")
    for disk in spec.disks:
        out = subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", disk.path], capture_output=True, text=True
        )
        assert [s["name"] for s in json.loads(out.stdout).get("snapshots", [])] == ["t1"]
    for device in ("vda", "vdb"):
        await d.delete_disk_snapshot(name, device, "t1")
    await d.undefine_vm(name)
