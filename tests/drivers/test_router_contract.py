"""The router contract (``drivers/network/base.py`` Router), one suite over the simulated
router and the virtual router (a namespace with dnsmasq and nftables on a private OVS):
applied whole, an older generation ignored, user data kept, destroyed without a trace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from strato.domain.network.specs import DhcpHost, NetworkSpec, RouterSpec, UserData, router_digest
from strato.drivers.network.base import Router
from strato.drivers.network.ovs import OvsElement
from strato.drivers.network.simulator import SimulatorRouter
from strato.drivers.network.vrouter import VirtualRouter
from tests.netlab import NetLab, netlab, sh

__all__ = ["netlab"]


@pytest.fixture(params=["simulator", "vrouter"])
async def router(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Router, str]]:
    network = f"rc-{uuid.uuid4().hex[:6]}"
    if request.param == "simulator":
        yield SimulatorRouter("h1"), network
        return
    lab: NetLab = request.getfixturevalue("netlab")
    bridge = f"{lab.prefix}k{uuid.uuid4().hex[:3]}"
    ovs = OvsElement("h1", db=lab.ovs.db, bridge=bridge, netns=lab.host_ns)
    await ovs.implement_network(NetworkSpec(name=network, segment="700"))
    vr = VirtualRouter(ovs, lab.state_dir / f"rc-{network}", prefix=lab.prefix)
    try:
        yield vr, network
    finally:
        await vr.destroy(network)
        sh("ovs-vsctl", f"--db={lab.ovs.db}", "--if-exists", "del-br", bridge, netns=lab.host_ns)


def _spec(network: str, generation: int, hosts: int) -> RouterSpec:
    return RouterSpec(
        network=network,
        tag=700,
        cidr="10.70.0.0/24",
        address="10.70.0.1",
        hosts=[
            DhcpHost(mac=f"02:00:00:00:70:{i:02x}", ip=f"10.70.0.{10 + i}", hostname=f"g{i}")
            for i in range(hosts)
        ],
        generation=generation,
    )


async def test_a_router_is_its_spec_whole(router: tuple[Router, str]) -> None:
    r, network = router
    assert await r.status(network) is None
    spec = _spec(network, 5, 2)
    info = await r.apply(spec)
    assert not info.skipped and info.digest == router_digest(spec)
    again = await r.apply(spec)  # idempotent
    assert again.digest == info.digest and again.hosts == 2
    status = await r.status(network)
    assert status is not None and status.hosts == 2 and status.generation == 5
    assert network in r.applied()
    # An older spec arriving late changes nothing; a newer one is applied.
    late = await r.apply(_spec(network, 4, 0))
    assert late.skipped
    status = await r.status(network)
    assert status is not None and status.hosts == 2
    newer = await r.apply(_spec(network, 6, 1))
    assert not newer.skipped and newer.hosts == 1
    await r.put_user_data(UserData(network=network, entries={"10.70.0.10": "aGk="}))
    await r.put_user_data(UserData(network=network, entries={}, whole=True))
    await r.destroy(network)
    assert await r.status(network) is None and network not in r.applied()
    await r.destroy(network)  # missing is fine


async def test_a_removal_older_than_the_router_applied_changes_nothing(
    router: tuple[Router, str],
) -> None:
    """A returning host removes the router it ran when it went Down (generation 4),
    unless a newer one was applied there since (5): that one stays; at its own
    generation it goes."""
    r, network = router
    await r.apply(_spec(network, 5, 1))
    await r.destroy(network, 4)
    status = await r.status(network)
    assert status is not None and status.generation == 5
    await r.destroy(network, 5)
    assert await r.status(network) is None
