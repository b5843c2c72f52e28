"""The simulated switch and routers outlive their agent (as a real host's do): a new
instance on the same state file has every network, port, router and user data."""

from __future__ import annotations

from pathlib import Path

from strato.domain.network.specs import (
    NetworkSpec,
    PortSecurity,
    PortSpec,
    RouterSpec,
    UserData,
)
from strato.drivers.network.simulator import SimulatorNetworkElement, SimulatorRouter


async def test_state_survives_the_agent(tmp_path: Path) -> None:
    switch = SimulatorNetworkElement("h1", state_file=tmp_path / "switch.json")
    await switch.implement_network(NetworkSpec(name="n1", segment="7", generation=3))
    sec = PortSecurity(ip_address="10.0.0.5")
    await switch.plug(PortSpec(network="n1", mac="02:00:00:00:00:05", security=sec))
    routers = SimulatorRouter("h1", state_file=tmp_path / "routers.json")
    spec = RouterSpec(network="n1", tag=7, cidr="10.0.0.0/24", address="10.0.0.1", generation=3)
    await routers.apply(spec)
    await routers.put_user_data(UserData(network="n1", entries={"10.0.0.5": "aGk="}))

    again = SimulatorNetworkElement("h1", state_file=tmp_path / "switch.json")
    assert [p.mac for p in await again.list_ports("n1")] == ["02:00:00:00:00:05"]
    assert again.security["02:00:00:00:00:05"] == sec and await again.tag_of("n1") == 7
    await again.implement_network(NetworkSpec(name="n1", segment="8", generation=2))
    assert await again.tag_of("n1") == 7  # an older spec arriving late is ignored
    back = SimulatorRouter("h1", state_file=tmp_path / "routers.json")
    info = await back.status("n1")
    assert (
        info is not None and info.generation == 3 and back.user_data["n1"] == {"10.0.0.5": "aGk="}
    )
    older = await back.apply(spec.model_copy(update={"generation": 2, "address": "10.0.0.2"}))
    assert older.skipped and back.routers["n1"].address == "10.0.0.1"
