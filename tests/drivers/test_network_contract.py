"""The network-element contract (strato/drivers/network/base.py), one suite for every
implementation: the simulator and Open vSwitch (a private OVS in a "host" namespace,
guests as namespaces pinging each other over real veth ports)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strato.domain.network.specs import NetworkSpec, PortSpec
from strato.drivers.network.base import NetworkElement, NetworkMissing, SegmentInvalid
from strato.drivers.network.ovs import OvsElement
from strato.drivers.registry import load
from tests.netlab import NetLab, netlab, sh

__all__ = ["netlab"]


def _mac() -> str:
    raw = uuid.uuid4().bytes[:5]
    return "02:" + ":".join(f"{b:02x}" for b in raw)


@pytest.fixture(params=["simulator", "ovs"])
async def element(request: pytest.FixtureRequest) -> AsyncIterator[NetworkElement]:
    if request.param == "simulator":
        yield load("network", "simulator")("h1")
        return
    lab: NetLab = request.getfixturevalue("netlab")
    bridge = f"{lab.prefix}b{uuid.uuid4().hex[:4]}"
    yield load("network", "ovs")("h1", db=lab.ovs.db, bridge=bridge, netns=lab.host_ns)
    sh("ovs-vsctl", f"--db={lab.ovs.db}", "--if-exists", "del-br", bridge, netns=lab.host_ns)


async def test_ports_plug_and_unplug_idempotently(element: NetworkElement) -> None:
    net = NetworkSpec(name=f"n-{uuid.uuid4().hex[:6]}", kind="isolated", segment="101")
    mac = _mac()
    with pytest.raises(NetworkMissing):
        await element.plug(PortSpec(network=net.name, mac=mac))
    for _ in range(2):
        await element.implement_network(net)
    first = await element.plug(PortSpec(network=net.name, mac=mac, vm_name="vm1"))
    again = await element.plug(PortSpec(network=net.name, mac=mac, vm_name="vm1"))
    assert first == again and first.mac == mac and first.device
    assert [p.mac for p in await element.list_ports(net.name)] == [mac]
    for _ in range(2):
        await element.unplug(net.name, mac)
    assert await element.list_ports(net.name) == []
    await element.plug(PortSpec(network=net.name, mac=_mac()))
    for _ in range(2):
        await element.shutdown_network(net.name)
    assert await element.list_ports(net.name) == []
    with pytest.raises(NetworkMissing):
        await element.plug(PortSpec(network=net.name, mac=mac))


async def test_a_shutdown_older_than_the_spec_applied_changes_nothing(
    element: NetworkElement,
) -> None:
    """A host's network removed by an operation at generation 4 (its last VM stopped)
    while one at 5 (a VM booting there) implemented it again: the port stays. A shutdown
    at the generation applied, or newer, removes it."""
    net = NetworkSpec(name=f"n-{uuid.uuid4().hex[:6]}", kind="isolated", segment="102")
    await element.implement_network(net.model_copy(update={"generation": 5}))
    mac = _mac()
    await element.plug(PortSpec(network=net.name, mac=mac))
    await element.shutdown_network(net.name, 4)
    assert [p.mac for p in await element.list_ports(net.name)] == [mac]
    await element.plug(PortSpec(network=net.name, mac=_mac()))  # still implemented
    await element.shutdown_network(net.name, 5)
    assert await element.list_ports(net.name) == []
    with pytest.raises(NetworkMissing):
        await element.plug(PortSpec(network=net.name, mac=mac))


async def test_a_segment_that_is_no_vlan_id_is_refused(element: NetworkElement) -> None:
    if element.name == "simulator":
        pytest.skip("the simulator takes any segment")
    for segment in ("5000", "vxlan-7", "0"):
        with pytest.raises(SegmentInvalid):
            await element.implement_network(NetworkSpec(name="bad", segment=segment))
    # One tag, one network on a host: a second network with it would reach the first.
    await element.implement_network(NetworkSpec(name="t-one", segment="133"))
    with pytest.raises(SegmentInvalid, match="t-one"):
        await element.implement_network(NetworkSpec(name="t-two", segment="133"))
    await element.shutdown_network("t-one")


async def test_guests_reach_their_network_only(
    element: NetworkElement, request: pytest.FixtureRequest
) -> None:
    """Two guests on one network ping each other; a guest on another network (another
    VLAN tag on the same bridge, the same subnet) reaches neither."""
    if element.name == "simulator":
        pytest.skip("the simulator moves no packets")
    lab: NetLab = request.getfixturevalue("netlab")
    a = NetworkSpec(name=f"a-{uuid.uuid4().hex[:6]}", kind="isolated", segment="201")
    b = NetworkSpec(name=f"b-{uuid.uuid4().hex[:6]}", kind="isolated", segment="202")
    for net in (a, b):
        await element.implement_network(net)
    tag = uuid.uuid4().hex[:3]
    ports = [
        await element.plug(PortSpec(network=net.name, mac=_mac(), vm_name=f"g{i}"))
        for i, net in enumerate((a, a, b))
    ]
    g1 = lab.guest(f"g1{tag}", ports[0].device, "10.99.0.1/24")
    lab.guest(f"g2{tag}", ports[1].device, "10.99.0.2/24")
    g3 = lab.guest(f"g3{tag}", ports[2].device, "10.99.0.3/24")
    for ns in (g1, g3):
        sh("ethtool", "-K", "eth0", "tx", "off", netns=ns, check=False)
    assert lab.reaches(g1, "10.99.0.2")
    assert not lab.reaches(g3, "10.99.0.1", timeout=2)
    assert not lab.reaches(g1, "10.99.0.3", timeout=2)
    for net in (a, b):
        await element.shutdown_network(net.name)
    assert not lab.reaches(g1, "10.99.0.2", timeout=2)  # unplugged: the pair is gone


async def test_guests_on_two_hosts_talk_across_vxlan(
    element: NetworkElement, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two "hosts" (namespaces, each its own private OVS) joined by an underlay veth:
    a VXLAN network's guests on either host ping each other through the tunnel; a guest
    of another VNI (the same subnet) reaches neither."""
    if element.name == "simulator":
        pytest.skip("the simulator moves no packets")
    lab: NetLab = request.getfixturevalue("netlab")
    assert isinstance(element, OvsElement)
    tag = uuid.uuid4().hex[:3]
    second = lab.second_host(tmp_path)
    host_b = second.ns
    try:
        other = OvsElement("h2", db=second.ovs.db, bridge=f"{lab.prefix}c{tag}", netns=host_b)
        nets = {
            "a": f"vx-{uuid.uuid4().hex[:6]}",
            "b": f"vy-{uuid.uuid4().hex[:6]}",
        }
        for el, peer in ((element, "192.168.77.2"), (other, "192.168.77.1")):
            await el.implement_network(
                NetworkSpec(name=nets["a"], isolation="VXLAN", segment="5001", peers=[peer])
            )
            await el.implement_network(
                NetworkSpec(name=nets["b"], isolation="VXLAN", segment="5002", peers=[peer])
            )
        p1 = await element.plug(PortSpec(network=nets["a"], mac=_mac()))
        p2 = await other.plug(PortSpec(network=nets["a"], mac=_mac()))
        p3 = await other.plug(PortSpec(network=nets["b"], mac=_mac()))
        g1 = lab.guest(f"v1{tag}", p1.device, "10.98.0.1/24")
        g2 = lab.guest_on(host_b, f"v2{tag}", p2.device, "10.98.0.2/24")
        g3 = lab.guest_on(host_b, f"v3{tag}", p3.device, "10.98.0.3/24")
        assert lab.reaches(g1, "10.98.0.2", timeout=15)
        assert not lab.reaches(g3, "10.98.0.1", timeout=2)
        for el in (element, other):
            for net in nets.values():
                await el.shutdown_network(net)
        assert not lab.reaches(g1, "10.98.0.2", timeout=2)
        del g2
    finally:
        second.remove()
