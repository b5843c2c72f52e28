"""Guest networks through their whole life on the simulator elements, with real Temporal
and PostgreSQL: Implemented by their first VM (a segment, a source-NAT address, a router
on the VM's host with its lease), every rule change applied to the router whole by an
ApplyNetwork operation, ports unplugged on stop and plugged again on start, a restart
with cleanup rebuilding the router, the last VM's lease leaving with it, a delete giving
back the segment and the public address. Refusals change nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from strato.commands.guest_networks import shutdown_idle
from strato.doctor import examine
from strato.domain.network.specs import PortSpec
from strato.drivers.network.simulator import SimulatorNetworkElement, SimulatorRouter
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.vm_helpers import act, deploy, vm_zone


async def guest_zone(api: httpx.AsyncClient, hosts: int = 2) -> dict[str, Any]:
    """A zone with simulated hosts and guest networking (:func:`networking`)."""
    fab = await vm_zone(api, hosts, network=False)
    return await networking(api, fab)


async def networking(api: httpx.AsyncClient, fab: dict[str, Any]) -> dict[str, Any]:
    """The zone gets a VLAN physical network (vnets 300-309, guest and public traffic), a
    public range of 4 addresses (198.51.100.10-13, gateway .1) and an isolated network
    on it (10.77.0.0/24)."""
    zone = fab["zone"]["id"]
    fab["physical"] = await ok(
        await api.post(
            "/physical-networks",
            json={
                "zone_id": zone,
                "name": unique("phy"),
                "traffic_types": ["guest", "public"],
                "vnets": {"start": 300, "end": 309},
            },
        ),
        201,
    )
    await ok(
        await api.post(
            "/public-ip-ranges",
            json={
                "zone_id": zone,
                "gateway": "198.51.100.1",
                "netmask": "255.255.255.0",
                "start": "198.51.100.10",
                "end": "198.51.100.13",
            },
        ),
        201,
    )
    fab["network"] = await isolated(api, fab, "10.77.0.0/24")
    return fab


async def isolated(api: httpx.AsyncClient, fab: dict[str, Any], cidr: str) -> dict[str, Any]:
    net: dict[str, Any] = await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": unique("iso"),
                "kind": "isolated",
                "cidr": cidr,
                "physical_network_id": fab["physical"]["id"],
            },
        ),
        201,
    )
    return net


async def running_on(
    api: httpx.AsyncClient, fab: dict[str, Any], network_id: str, **extra: Any
) -> dict[str, Any]:
    accepted = await deploy(api, fab, network_ids=[network_id], **extra)
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    vm: dict[str, Any] = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    return vm


def _router(platform: Platform, host: str, network_id: str) -> Any:
    routers: SimulatorRouter = platform.fleet.routers[host]
    return routers.routers.get(network_id)


def _ports(platform: Platform, host: str, network_id: str) -> set[str]:
    element: SimulatorNetworkElement | None = platform.fleet.elements.get(host)
    return set(element.ports.get(network_id, {})) if element else set()


async def _applied(api: httpx.AsyncClient, r: httpx.Response) -> None:
    """The change's ApplyNetwork operation ran to its end."""
    location = r.headers["Operation-Location"]
    op = await wait_operation(api, location.rsplit("/", 1)[1])
    assert op["state"] == "succeeded", op


async def test_a_network_lives_from_first_vm_to_delete(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await guest_zone(api)
    net_id = fab["network"]["id"]
    assert fab["network"]["state"] == "Allocated"

    vm = await running_on(api, fab, net_id, user_data="aGVsbG8=")
    host = next(h["name"] for h in fab["hosts"] if h["id"] == vm["host_id"])
    net = await ok(await api.get(f"/networks/{net_id}"))
    assert net["state"] == "Implemented" and 300 <= int(net["segment"]) <= 309
    assert net["router_host_id"] == vm["host_id"]
    async with db.conn() as conn:
        nic = await conn.fetchrow(
            "SELECT mac, host(ip_address) AS ip, host_id FROM nics WHERE vm_id = $1", vm["id"]
        )
        snat = await conn.fetchval(
            "SELECT host(address) FROM public_ips WHERE network_id = $1 AND source_nat", net_id
        )
    assert str(nic["host_id"]) == vm["host_id"] and snat == "198.51.100.10"
    listed = await ok(await api.get(f"/vms/{vm['id']}/nics"))
    assert [(n["mac"], n["ip_address"], n["network_id"]) for n in listed] == [
        (nic["mac"], nic["ip"], net_id)
    ]
    assert (await api.get(f"/vms/{uuid.uuid4()}/nics")).status_code == 404
    assert _ports(platform, host, net_id) == {nic["mac"]}
    router = _router(platform, host, net_id)
    assert [(h.mac, h.ip) for h in router.hosts] == [(nic["mac"], nic["ip"])]
    assert router.public.address == "198.51.100.10/24" and router.address == "10.77.0.1"
    assert [(m.ip, m.instance_id) for m in router.metadata] == [(nic["ip"], vm["id"])]
    assert platform.fleet.routers[host].user_data[net_id] == {nic["ip"]: "aGVsbG8="}

    # A rule: recorded, then applied to the router by its own operation.
    ip = await ok(
        await api.post("/public-ips", json={"zone_id": fab["zone"]["id"], "network_id": net_id}),
        201,
    )
    r = await api.post(
        f"/public-ips/{ip['id']}/port-forwarding-rules",
        json={"vm_id": vm["id"], "protocol": "tcp", "public_start": 2222, "private_start": 22},
    )
    rule = await ok(r, 201)
    await _applied(api, r)
    router = _router(platform, host, net_id)
    assert [(f.public_ip, f.public_port, f.private_ip) for f in router.port_forwards] == [
        (ip["address"], 2222, nic["ip"])
    ]
    assert router.public_ips == [ip["address"]]
    r = await api.post(
        f"/public-ips/{ip['id']}/firewall-rules",
        json={"protocol": "tcp", "start_port": 2222, "cidrs": ["192.0.2.0/24"]},
    )
    await _applied(api, r)
    assert [f.cidrs for f in _router(platform, host, net_id).firewall] == [["192.0.2.0/24"]]
    r = await api.delete(f"/port-forwarding-rules/{rule['id']}")
    assert r.status_code == 204
    await _applied(api, r)
    assert _router(platform, host, net_id).port_forwards == []
    r = await api.post(
        f"/networks/{net_id}/egress-rules", json={"protocol": "udp", "start_port": 53}
    )
    await ok(r, 201)
    await _applied(api, r)
    egress = _router(platform, host, net_id).egress
    assert [(e.protocol, e.start, e.cidrs) for e in egress] == [("udp", 53, ["0.0.0.0/0"])]
    bad = await api.post(
        f"/networks/{net_id}/egress-rules", json={"protocol": "icmp", "end_port": 1}
    )
    assert bad.status_code == 422, bad.text

    # Refused, nothing changed: a delete with a VM on it, a shutdown while it runs.
    before = await table_counts(db)
    r = await api.delete(f"/networks/{net_id}")
    assert r.status_code == 409 and "NIC" in r.text, r.text
    r = await api.post(f"/networks/{net_id}/shutdown")
    assert r.status_code == 409 and "plugged" in r.text, r.text
    assert await table_counts(db) == before

    # Stop: the port comes off its host; the lease stays. Start: plugged again.
    await act(api, vm["id"], "stop")
    assert _ports(platform, host, net_id) == set()
    assert len(_router(platform, host, net_id).hosts) == 1
    # Idle now: a shutdown removes the router and gives the segment back (the source-NAT
    # address stays); the next start implements the network again.
    accepted = await ok(await api.post(f"/networks/{net_id}/shutdown"), 202)
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    down = await ok(await api.get(f"/networks/{net_id}"))
    assert down["state"] == "Shutdown" and down["segment"] is None
    assert _router(platform, host, net_id) is None
    await act(api, vm["id"], "start")
    vm = await ok(await api.get(f"/vms/{vm['id']}"))
    started_on = next(h["name"] for h in fab["hosts"] if h["id"] == vm["host_id"])
    assert _ports(platform, started_on, net_id) == {nic["mac"]}

    # Restart with cleanup: the router rebuilt from the database at a newer generation.
    gen = _router(platform, host, net_id).generation
    accepted = await ok(await api.post(f"/networks/{net_id}/restart", json={"cleanup": True}), 202)
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    rebuilt = _router(platform, host, net_id)
    assert rebuilt.generation > gen and len(rebuilt.hosts) == 1 and rebuilt.firewall

    # The VM goes: its lease leaves the router; the network can go, giving all back.
    await act(api, vm["id"], "destroy", {"expunge": True})
    assert _router(platform, host, net_id).hosts == []
    assert _ports(platform, started_on, net_id) == set()
    r = await api.delete(f"/networks/{net_id}")
    accepted = await ok(r, 202)
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    assert (await api.get(f"/networks/{net_id}")).status_code == 404
    assert _router(platform, host, net_id) is None
    async with db.conn() as conn:
        held = await conn.fetchval(
            """SELECT count(*) FROM segments
               WHERE physical_network_id = $1 AND network_id IS NOT NULL""",
            fab["physical"]["id"],
        )
        free = await conn.fetchval(
            "SELECT count(*) FROM public_ips WHERE zone_id = $1 AND state = 'Free'",
            fab["zone"]["id"],
        )
    assert held == 0 and free == 4


async def test_a_network_never_on_a_host_is_deleted_at_once(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await guest_zone(api, hosts=1)
    r = await api.delete(f"/networks/{fab['network']['id']}")
    assert r.status_code == 204, r.text
    assert (await api.get(f"/networks/{fab['network']['id']}")).status_code == 404


async def test_two_vms_on_two_hosts_share_one_router(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    """Two VMs deployed at once on one new network: one segment, one router, on the
    first VM's host, with both leases; the network is implemented once."""
    fab = await guest_zone(api)
    net_id = fab["network"]["id"]
    accepted = [await deploy(api, fab, network_ids=[net_id]) for _ in range(2)]
    for a in accepted:
        assert (await wait_operation(api, a["operation"]["id"]))["state"] == "succeeded"
    net = await ok(await api.get(f"/networks/{net_id}"))
    router_host = next(h["name"] for h in fab["hosts"] if h["id"] == net["router_host_id"])
    routers = [h["name"] for h in fab["hosts"] if _router(platform, h["name"], net_id)]
    assert routers == [router_host]
    assert len(_router(platform, router_host, net_id).hosts) == 2


async def test_security_groups_follow_their_members(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """A rule naming its own group allows exactly the group's members' addresses: a
    member joining or leaving secures the others' ports again. Bad rules change nothing."""
    fab = await guest_zone(api, hosts=1)
    host = fab["hosts"][0]["name"]
    offering = await ok(
        await api.post(
            "/network-offerings",
            json={
                "name": unique("sg"),
                "guest_type": "Shared",
                "services": ["Dhcp", "SecurityGroup"],
            },
        ),
        201,
    )
    net = await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": unique("sgnet"),
                "kind": "shared",
                "cidr": "10.81.0.0/24",
                "offering_id": offering["id"],
                "physical_network_id": fab["physical"]["id"],
            },
        ),
        201,
    )
    group = await ok(await api.post("/security-groups", json={"name": unique("g")}), 201)
    before = await table_counts(db)
    for bad, status in (
        ({"protocol": "tcp", "cidr": "0.0.0.0/0"}, 422),
        ({"protocol": "icmp", "start_port": 1, "cidr": "0.0.0.0/0"}, 422),
        ({"protocol": "tcp", "start_port": 90, "end_port": 80, "cidr": "0.0.0.0/0"}, 422),
        ({"protocol": "tcp", "start_port": 80, "cidr": "10.0.0.1/8"}, 422),
        ({"protocol": "all"}, 422),
        ({"protocol": "all", "cidr": "0.0.0.0/0", "remote_group_id": group["id"]}, 422),
    ):
        r = await api.post(f"/security-groups/{group['id']}/rules", json=bad)
        assert r.status_code == status, (bad, r.text)
    assert await table_counts(db) == before
    r = await api.post(
        f"/security-groups/{group['id']}/rules",
        json={"protocol": "tcp", "start_port": 22, "remote_group_id": group["id"]},
    )
    await ok(r, 201)
    again = await api.post(
        f"/security-groups/{group['id']}/rules",
        json={"protocol": "tcp", "start_port": 22, "remote_group_id": group["id"]},
    )
    assert again.status_code == 409, again.text

    async def member() -> tuple[str, str]:
        vm = await running_on_sg(api, fab, net["id"], group["id"])
        async with db.conn() as conn:
            mac = await conn.fetchval("SELECT mac FROM nics WHERE vm_id = $1", uuid.UUID(vm["id"]))
        return vm["id"], mac

    def allowed(mac: str) -> list[str]:
        sec = platform.fleet.elements[host].security[mac]
        assert sec is not None
        return sorted(c for rule in sec.rules for c in rule.cidrs)

    _first, first_mac = await member()
    async with db.conn() as conn:
        ips = {
            r["mac"]: r["ip"]
            for r in await conn.fetch("SELECT mac, host(ip_address) AS ip FROM nics")
        }
    assert allowed(first_mac) == [f"{ips[first_mac]}/32"]
    second, second_mac = await member()
    async with db.conn() as conn:
        ips[second_mac] = await conn.fetchval(
            "SELECT host(ip_address) FROM nics WHERE mac = $1", second_mac
        )
    both = sorted(f"{ips[m]}/32" for m in (first_mac, second_mac))
    assert allowed(first_mac) == both and allowed(second_mac) == both
    r = await api.delete(f"/security-groups/{group['id']}")
    assert r.status_code == 409 and "member" in r.text, r.text
    await act(api, second, "destroy", {"expunge": True})
    assert allowed(first_mac) == [f"{ips[first_mac]}/32"]
    default = await ok(await api.get("/security-groups", params={"name": "default"}))
    if default["items"]:
        r = await api.delete(f"/security-groups/{default['items'][0]['id']}")
        assert r.status_code == 409, r.text


async def running_on_sg(
    api: httpx.AsyncClient, fab: dict[str, Any], network_id: str, group_id: str
) -> dict[str, Any]:
    accepted = await deploy(api, fab, network_ids=[network_id], security_group_ids=[group_id])
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    vm: dict[str, Any] = accepted["resource"]
    return vm


async def test_the_doctor_finds_and_repairs_network_drift(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """A router gone from its host, a VM's port gone and a port no NIC has: the doctor
    reports each, and its repair (a restart of the network) puts them right."""
    fab = await guest_zone(api, hosts=1)
    host, net_id = fab["hosts"][0]["name"], fab["network"]["id"]
    vm = await running_on(api, fab, net_id)
    async with db.conn() as conn:
        mac = await conn.fetchval("SELECT mac FROM nics WHERE vm_id = $1", uuid.UUID(vm["id"]))
    queue = settings.orchestration_queue
    client = platform.client

    def checks(report: Any) -> set[str]:
        return {f.check for f in report.findings if f.check.startswith(("router", "port"))}

    assert checks(await examine(db, client, queue=queue)) == set()
    element = platform.fleet.elements[host]
    platform.fleet.routers[host].routers.pop(net_id)
    element.ports[net_id].pop(mac)
    stray = await element.plug(PortSpec(network=net_id, mac="02:99:00:00:00:01"))
    report = await examine(db, client, queue=queue)
    assert checks(report) == {"router-missing", "port-missing", "port-extra"}, report.findings
    await examine(db, client, queue=queue, repair=True)
    assert checks(await examine(db, client, queue=queue)) == set()
    assert set(element.ports[net_id]) == {mac} and stray.mac not in element.ports[net_id]
    assert platform.fleet.routers[host].routers[net_id].hosts[0].mac == mac


async def test_an_idle_network_is_shut_down_by_the_sweep(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """The orchestrator's sweep shuts down a network none of whose VMs has run for the
    grace period (CloudStack's network.gc.wait), and leaves one with a running VM."""
    fab = await guest_zone(api, hosts=1)
    busy = await isolated(api, fab, "10.82.0.0/24")
    vm = await running_on(api, fab, fab["network"]["id"])
    await running_on(api, fab, busy["id"])
    queue = settings.orchestration_queue
    assert await shutdown_idle(db, platform.client, 0, queue) == 0  # both have a VM running
    await act(api, vm["id"], "stop")
    assert await shutdown_idle(db, platform.client, 3600, queue) == 0  # not idle long enough
    assert await shutdown_idle(db, platform.client, 0, queue) == 1
    deadline = asyncio.get_running_loop().time() + 30
    while (await ok(await api.get(f"/networks/{fab['network']['id']}")))["state"] != "Shutdown":
        assert asyncio.get_running_loop().time() < deadline, "never shut down"
        await asyncio.sleep(0.2)
    assert (await ok(await api.get(f"/networks/{busy['id']}")))["state"] == "Implemented"
    assert await shutdown_idle(db, platform.client, 0, queue) == 0


class _Hold:
    """The first call of an element's method waits (``reached`` set) until ``go``."""

    def __init__(self, element: SimulatorNetworkElement, method: str) -> None:
        self.reached, self.go = asyncio.Event(), asyncio.Event()
        original = getattr(element, method)

        async def held(*args: Any, **kwargs: Any) -> Any:
            if not self.reached.is_set():
                self.reached.set()
                await self.go.wait()
            return await original(*args, **kwargs)

        setattr(element, method, held)
        self.undo = lambda: delattr(element, method)  # the class's method again


@asynccontextmanager
async def _held(element: SimulatorNetworkElement, method: str) -> AsyncIterator[_Hold]:
    """``method`` held at its first call until the block ends."""
    hold = _Hold(element, method)
    try:
        yield hold
    finally:
        hold.go.set()
        hold.undo()


async def _start(api: httpx.AsyncClient, path: str, hold: _Hold) -> str:
    """The operation of ``POST path``, once it reached the held call; its id."""
    accepted = await ok(await api.post(path, json={}), 202)
    await asyncio.wait_for(hold.reached.wait(), 30)
    op_id: str = accepted["operation"]["id"]
    return op_id


async def _succeeds(api: httpx.AsyncClient, op_id: str) -> None:
    op = await wait_operation(api, op_id)
    assert op["state"] == "succeeded", op


async def _macs(db: Database, *vms: dict[str, Any]) -> set[str]:
    async with db.conn() as conn:
        rows = await conn.fetch(
            "SELECT mac FROM nics WHERE vm_id = ANY($1::uuid[])", [uuid.UUID(v["id"]) for v in vms]
        )
    return {r["mac"] for r in rows}


async def test_a_vm_booting_during_a_restart_keeps_its_port(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    """A restart reads the ports to keep at its start; a VM plugged on the network before
    the restart prunes the others is plugged again by the restart's next round."""
    fab = await guest_zone(api, hosts=1)
    host, net_id = fab["hosts"][0]["name"], fab["network"]["id"]
    first = await running_on(api, fab, net_id)
    async with _held(platform.fleet.elements[host], "list_ports") as hold:  # its prune
        op_id = await _start(api, f"/networks/{net_id}/restart", hold)
        second = await running_on(api, fab, net_id)
        assert len(_ports(platform, host, net_id)) == 2
    await _succeeds(api, op_id)
    assert _ports(platform, host, net_id) == await _macs(db, first, second)
    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert not [f for f in report.findings if f.check.startswith("port")], report.findings


async def test_a_vm_stopping_during_a_restart_loses_its_port(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """A restart that plugs again a port whose VM stopped after it read the database
    unplugs it in its next round."""
    fab = await guest_zone(api, hosts=1)
    host, net_id = fab["hosts"][0]["name"], fab["network"]["id"]
    stays = await running_on(api, fab, net_id)
    stops = await running_on(api, fab, net_id)
    async with _held(platform.fleet.elements[host], "implement_network") as hold:
        op_id = await _start(api, f"/networks/{net_id}/restart", hold)
        await act(api, stops["id"], "stop")
        assert len(_ports(platform, host, net_id)) == 1
    await _succeeds(api, op_id)
    assert _ports(platform, host, net_id) == await _macs(db, stays)


async def test_a_vm_booting_where_the_last_port_left_keeps_its_port(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """A VM stops, the last of the network's ports on its host, so the network is to
    leave that host; another VM boots there before it does. The older removal changes
    nothing: the new VM's port stays."""
    fab = await guest_zone(api, hosts=2)
    net_id = fab["network"]["id"]
    router_vm = await running_on(api, fab, net_id)
    await ok(await api.patch(f"/hosts/{router_vm['host_id']}", json={"resource_state": "Disabled"}))
    leaving = await running_on(api, fab, net_id)
    host = next(h["name"] for h in fab["hosts"] if h["id"] == leaving["host_id"])
    assert leaving["host_id"] != router_vm["host_id"]
    async with _held(platform.fleet.elements[host], "shutdown_network") as hold:
        op_id = await _start(api, f"/vms/{leaving['id']}/stop", hold)
        arriving = await running_on(api, fab, net_id)
        assert arriving["host_id"] == leaving["host_id"]
    await _succeeds(api, op_id)
    assert _ports(platform, host, net_id) == await _macs(db, arriving)
