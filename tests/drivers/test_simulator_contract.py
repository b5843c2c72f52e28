"""The hypervisor contract's post-conditions, run against the simulator.

The libvirt driver joins this suite in its own issue (test:/// and qemu:///system).
"""

from __future__ import annotations

import pytest

from strato.domain.compute import PowerState, VmSpec
from strato.drivers.faults import FaultPlan, InjectedFault
from strato.drivers.hypervisor.base import CAPABILITIES, HypervisorDriver
from strato.drivers.hypervisor.simulator import SimulatorHypervisor
from strato.drivers.registry import UnknownDriver, load


def spec(name: str = "vm-1") -> VmSpec:
    return VmSpec(
        name=name,
        uuid="00000000-0000-0000-0000-000000000001",
        cpu_count=1,
        cpu_speed_mhz=1000,
        memory_mb=128,
    )


@pytest.fixture(params=["simulator"])
def driver(request: pytest.FixtureRequest) -> HypervisorDriver:
    cls = load("hypervisor", request.param)
    instance: HypervisorDriver = cls("h1")
    return instance


async def test_capabilities_cover_the_known_keys(driver: HypervisorDriver) -> None:
    assert set(driver.capabilities) == set(CAPABILITIES)


async def test_facts_are_complete(driver: HypervisorDriver) -> None:
    facts = await driver.host_facts()
    assert facts.cpu_cores > 0 and facts.memory_total_mb > 0 and facts.cpu_speed_mhz > 0


async def test_define_is_idempotent_and_converges(driver: HypervisorDriver) -> None:
    await driver.define_vm(spec())
    await driver.define_vm(spec().model_copy(update={"memory_mb": 256}))
    vms = await driver.list_vms()
    assert [v.name for v in vms] == ["vm-1"]
    assert await driver.power_state("vm-1") == PowerState.STOPPED


async def test_start_stop_reboot_post_conditions(driver: HypervisorDriver) -> None:
    await driver.define_vm(spec())
    await driver.start_vm("vm-1")
    await driver.start_vm("vm-1")  # starting a running VM succeeds
    assert await driver.power_state("vm-1") == PowerState.RUNNING
    await driver.reboot_vm("vm-1")
    assert await driver.power_state("vm-1") == PowerState.RUNNING
    await driver.stop_vm("vm-1", timeout_s=1)
    await driver.stop_vm("vm-1", timeout_s=1)  # stopping a stopped VM succeeds
    assert await driver.power_state("vm-1") == PowerState.STOPPED


async def test_undefine_missing_succeeds(driver: HypervisorDriver) -> None:
    await driver.undefine_vm("never-defined")
    await driver.define_vm(spec())
    await driver.start_vm("vm-1")
    await driver.undefine_vm("vm-1")
    assert await driver.power_state("vm-1") == PowerState.MISSING
    assert await driver.list_vms() == []


async def test_unknown_driver_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownDriver, match="no hypervisor driver named 'xen'"):
        load("hypervisor", "xen")


async def test_fault_plan_targets_only_named_hosts_and_ops() -> None:
    plan = FaultPlan.parse(fail_rate=1.0, fail_targets="bad", fail_ops="start_vm")
    good = SimulatorHypervisor("good", faults=plan)
    bad = SimulatorHypervisor("bad", faults=plan)
    for d in (good, bad):
        await d.define_vm(spec())
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
    import asyncio

    plan = FaultPlan.parse(hang_rate=1.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(plan.call("op", "h"), 0.1)


async def test_simulated_storage_and_network_contracts() -> None:
    from strato.domain.network import NetworkSpec, PortSpec
    from strato.domain.storage import VolumeSpec

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
