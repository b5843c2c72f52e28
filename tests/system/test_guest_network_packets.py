"""Guest networks end to end with real packets: the API, the orchestrator and Temporal
drive a real network agent (``strato agent network``) on a private Open vSwitch; the VMs
are simulated hosts' (no QEMU here), and each VM's port, plugged by Strato, is handed to
a namespace playing the guest.

Through Strato alone: the guests get their IPAM addresses by DHCP from the network's
router, resolve each other by name and ping each other; they reach an "external"
namespace through source NAT (it sees the network's source-NAT address); a port
forwarding rule with a firewall rule lets the external side reach a guest's web server,
and deleting the firewall rule blocks it again; a guest on another network reaches
neither of them.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.domain.ids import network_queue
from strato.domain.network.specs import NetworkSpec, PortSpec
from strato.drivers.network.ovs import OvsElement, port_names
from strato.schema.db import Database
from strato.settings import Settings
from strato.workers.network_agent import NetworkAgent
from tests.conftest import Platform
from tests.drivers.test_vrouter import _fetch, _http
from tests.helpers import ok, wait_operation
from tests.netlab import NetLab, netlab, sh
from tests.workflows.test_guest_networks import guest_zone, isolated, running_on
from tests.workflows.vm_helpers import vm_zone

__all__ = ["netlab"]


class Lab:
    """A zone of one simulated host whose network agent is real, on the lab's switch,
    and an external namespace on the public segment (198.51.100.1, its gateway)."""

    def __init__(self, netlab: NetLab, api: httpx.AsyncClient, fab: dict[str, Any]) -> None:
        self.netlab = netlab
        self.api = api
        self.fab = fab
        self.host = fab["hosts"][0]["name"]
        self.bridge = f"{netlab.prefix}e{uuid.uuid4().hex[:3]}"
        self.ovs = OvsElement("ext", db=netlab.ovs.db, bridge=self.bridge, netns=netlab.host_ns)
        self.tag = uuid.uuid4().hex[:3]

    def guest_of(self, vm: dict[str, Any], mac: str, name: str) -> str:
        """The namespace playing ``vm``: the guest side of the port Strato plugged."""
        return self.netlab.guest(f"{name}{self.tag}", port_names(mac)[1])


async def _mac_of(db: Database, vm_id: str) -> tuple[str, str]:
    async with db.conn() as conn:
        row = await conn.fetchrow(
            "SELECT mac, host(ip_address) AS ip FROM nics WHERE vm_id = $1", uuid.UUID(vm_id)
        )
    return row["mac"], row["ip"]


@pytest.fixture
async def lab(
    netlab: NetLab, api: httpx.AsyncClient, platform: Platform, settings: Settings
) -> AsyncIterator[Lab]:
    fab = await guest_zone(api, hosts=1)
    lab = Lab(netlab, api, fab)
    # The host's network queue is the real agent's, not the simulated fleet's.
    platform.fleet.real_network.add(lab.host)
    while network_queue(lab.host) in platform.fleet.tasks:
        await asyncio.sleep(0.1)
    agent = NetworkAgent(
        settings,
        lab.host,
        netlab.state_dir / f"agent-{lab.tag}",
        ovs_db=netlab.ovs.db,
        bridge=lab.bridge,
        netns=netlab.host_ns,
        prefix=netlab.prefix,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await lab.ovs.implement_network(NetworkSpec(name="public"))
    mac = "02:ee:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:4])
    ext_port = await lab.ovs.plug(PortSpec(network="public", mac=mac))
    lab.ext = netlab.guest(f"x{lab.tag}", ext_port.device, "198.51.100.1/24")  # type: ignore[attr-defined]
    try:
        yield lab
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        sh("ovs-vsctl", f"--db={netlab.ovs.db}", "--if-exists", "del-br", lab.bridge,
           netns=netlab.host_ns)  # fmt: skip


async def test_guests_on_an_isolated_network_through_strato(
    lab: Lab, db: Database, tmp_path: Path
) -> None:
    api, fab, netlab = lab.api, lab.fab, lab.netlab
    net_id = fab["network"]["id"]
    # A key pair made by Strato, given at deploy: its public key reaches the guest.
    pair = await ok(await api.post("/ssh-key-pairs", json={"name": "web"}), 201)
    key = pair["public_key"]
    web_vm = await running_on(
        api,
        fab,
        net_id,
        user_data=base64.b64encode(b"#cloud-config\nhostname: web\n").decode(),
        ssh_key_pair_ids=[pair["id"]],
    )
    db_vm = await running_on(api, fab, net_id)
    (web_mac, web_ip), (db_mac, db_ip) = [await _mac_of(db, v["id"]) for v in (web_vm, db_vm)]
    web, dbg = lab.guest_of(web_vm, web_mac, "w"), lab.guest_of(db_vm, db_mac, "d")

    # Leases with their IPAM addresses, names of each other, pings.
    assert netlab.dhcp(web, tmp_path) == web_ip
    assert netlab.dhcp(dbg, tmp_path) == db_ip
    for ns in (web, dbg):
        netlab.resolv(ns, "nameserver 10.77.0.1\nsearch cloud.internal\n")
    got = sh("getent", "hosts", db_vm["name"], netns=web).stdout.split()
    assert got and got[0] == db_ip, got
    assert netlab.reaches(web, db_ip) and netlab.reaches(dbg, web_vm["name"])

    # The metadata service: each guest is told about itself only.
    meta = "http://169.254.169.254/latest"
    assert _get(web, f"{meta}/meta-data/instance-id") == web_vm["id"]
    assert _get(dbg, f"{meta}/meta-data/instance-id") == db_vm["id"]
    assert _get(web, f"{meta}/user-data") == "#cloud-config\nhostname: web"
    assert _get(dbg, f"{meta}/user-data") is None  # it has none (404)
    assert _get(web, f"{meta}/meta-data/public-keys/0/openssh-key") == key
    assert _get(web, f"{meta}/meta-data/local-ipv4") == web_ip
    assert _get(web, "http://10.77.0.1/latest/meta-data/local-hostname") == web_vm["name"]

    # Out through source NAT: the external side sees the network's source-NAT address.
    ext = lab.ext  # type: ignore[attr-defined]
    ext_log = tmp_path / "ext.log"
    server = _http(ext, "198.51.100.1", 8081, tmp_path, ext_log)
    try:
        assert await _fetch(web, "http://198.51.100.1:8081/ext.log")
        assert "198.51.100.10" in ext_log.read_text() and web_ip not in ext_log.read_text()
        # An egress rule (the network allows egress by default: the rule blocks).
        r = await api.post(
            f"/networks/{net_id}/egress-rules",
            json={"protocol": "tcp", "start_port": 8081, "cidrs": ["198.51.100.0/24"]},
        )
        egress = await ok(r, 201)
        await _applied(api, r)
        assert not await _fetch(web, "http://198.51.100.1:8081/ext.log", timeout=3)
        r = await api.delete(f"/egress-rules/{egress['id']}")
        assert r.status_code == 204
        await _applied(api, r)
        assert await _fetch(web, "http://198.51.100.1:8081/ext.log")
    finally:
        server.terminate()
        server.wait(timeout=10)

    # Port forwarding and the firewall, each change applied by its own operation.
    ip = await ok(
        await api.post("/public-ips", json={"zone_id": fab["zone"]["id"], "network_id": net_id}),
        201,
    )
    r = await api.post(
        f"/public-ips/{ip['id']}/port-forwarding-rules",
        json={"vm_id": web_vm["id"], "protocol": "tcp", "public_start": 8080, "private_start": 80},
    )
    await ok(r, 201)
    await _applied(api, r)
    url = f"http://{ip['address']}:8080/web.log"
    web_log = tmp_path / "web.log"
    server = _http(web, web_ip, 80, tmp_path, web_log)
    try:
        assert not await _fetch(ext, url, timeout=3)  # no firewall rule: dropped
        r = await api.post(
            f"/public-ips/{ip['id']}/firewall-rules",
            json={"protocol": "tcp", "start_port": 8080, "cidrs": ["198.51.100.0/24"]},
        )
        rule = await ok(r, 201)
        await _applied(api, r)
        assert await _fetch(ext, url)
        assert "198.51.100.1" in web_log.read_text()
        r = await api.delete(f"/firewall-rules/{rule['id']}")
        assert r.status_code == 204
        await _applied(api, r)
        assert not await _fetch(ext, url, timeout=3)
    finally:
        server.terminate()
        server.wait(timeout=10)

    # Static NAT: one public address for the db guest, both ways (ICMP allowed in).
    nat_ip = await ok(
        await api.post("/public-ips", json={"zone_id": fab["zone"]["id"], "network_id": net_id}),
        201,
    )
    r = await api.post(f"/public-ips/{nat_ip['id']}/static-nat", json={"vm_id": db_vm["id"]})
    await ok(r)
    await _applied(api, r)
    r = await api.post(f"/public-ips/{nat_ip['id']}/firewall-rules", json={"protocol": "icmp"})
    await ok(r, 201)
    await _applied(api, r)
    assert netlab.reaches(ext, nat_ip["address"])

    # A guest on another network of the zone reaches neither.
    other = await isolated(api, fab, "10.78.0.0/24")
    far_vm = await running_on(api, fab, other["id"])
    far_mac, far_ip = await _mac_of(db, far_vm["id"])
    far = lab.guest_of(far_vm, far_mac, "f")
    assert netlab.dhcp(far, tmp_path) == far_ip
    assert not netlab.reaches(far, web_ip, timeout=3) and not netlab.reaches(far, db_ip, 1)


def _get(ns: str, url: str) -> str | None:
    """What ``url`` answers in ``ns`` (None: an error status or no answer)."""
    got = sh("timeout", "5", "busybox", "wget", "-q", "-O", "-", url, netns=ns, check=False)
    return got.stdout.strip() if got.returncode == 0 else None


async def _applied(api: httpx.AsyncClient, r: httpx.Response) -> None:
    op = await wait_operation(api, r.headers["Operation-Location"].rsplit("/", 1)[1])
    assert op["state"] == "succeeded", op


async def test_a_security_group_allows_only_its_rules(
    lab: Lab, db: Database, tmp_path: Path
) -> None:
    """Two guests of one group on a shared network with security groups: a new
    connection to the web guest passes only on the port its group allows; a rule added
    (by its ApplySecurityGroup operation) lets ICMP in; replies to the guest's own
    connections always pass."""
    api, fab, netlab = lab.api, lab.fab, lab.netlab
    offering = await ok(
        await api.post(
            "/network-offerings",
            json={
                "name": f"sg-{lab.tag}",
                "guest_type": "Shared",
                "services": ["Dhcp", "Dns", "SecurityGroup"],
            },
        ),
        201,
    )
    net = await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": f"sgnet-{lab.tag}",
                "kind": "shared",
                "cidr": "10.79.0.0/24",
                "offering_id": offering["id"],
                "physical_network_id": fab["physical"]["id"],
            },
        ),
        201,
    )
    group = await ok(await api.post("/security-groups", json={"name": f"web-{lab.tag}"}), 201)
    r = await api.post(
        f"/security-groups/{group['id']}/rules",
        json={"protocol": "tcp", "start_port": 8080, "cidr": "10.79.0.0/24"},
    )
    await ok(r, 201)
    await _applied(api, r)  # no member yet: nothing to secure
    vms = []
    for _ in range(2):
        accepted = await ok(
            await api.post(
                "/vms",
                json={
                    "name": f"sg{uuid.uuid4().hex[:5]}",
                    "zone_id": fab["zone"]["id"],
                    "service_offering_id": fab["offering"]["id"],
                    "template_id": fab["template"]["id"],
                    "network_ids": [net["id"]],
                    "security_group_ids": [group["id"]],
                },
            ),
            202,
        )
        assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
        vms.append(accepted["resource"])
    (web_mac, web_ip), (cli_mac, cli_ip) = [await _mac_of(db, v["id"]) for v in vms]
    web, cli = lab.guest_of(vms[0], web_mac, "sw"), lab.guest_of(vms[1], cli_mac, "sc")
    assert netlab.dhcp(web, tmp_path) == web_ip  # DHCP always passes
    assert netlab.dhcp(cli, tmp_path) == cli_ip
    servers = [
        _http(web, web_ip, port, tmp_path, tmp_path / f"s{port}.log") for port in (8080, 8081)
    ]
    try:
        assert await _fetch(cli, f"http://{web_ip}:8080/s8080.log")  # allowed
        assert not await _fetch(cli, f"http://{web_ip}:8081/s8081.log", timeout=3)  # not
        assert not netlab.reaches(cli, web_ip, timeout=2)  # no ICMP rule
        # A guest's own connections out get their replies (egress: any, no egress rule).
        assert await _fetch(web, f"http://{web_ip}:8081/s8081.log")
        r = await api.post(
            f"/security-groups/{group['id']}/rules", json={"protocol": "icmp", "cidr": "0.0.0.0/0"}
        )
        await _applied(api, r)
        assert netlab.reaches(cli, web_ip)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


async def test_guests_on_two_hosts_talk_across_vxlan(
    netlab: NetLab,
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
) -> None:
    """A shared network on a VXLAN physical network, two VMs kept apart by an
    anti-affinity group, each host's real network agent on its own switch: the guest on
    the host without the router gets its lease across the tunnel Strato set up, and the
    two guests ping each other."""
    fab = await vm_zone(api, hosts=2, network=False)
    second = netlab.second_host(tmp_path)
    hosts = [h["name"] for h in fab["hosts"]]
    for h, ip in zip(fab["hosts"], (second.lab_ip, second.ip), strict=True):
        await ok(await api.patch(f"/hosts/{h['id']}", json={"tunnel_ip": ip}))
    physical = await ok(
        await api.post(
            "/physical-networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": f"vx{uuid.uuid4().hex[:4]}",
                "isolation": "VXLAN",
                "vnets": {"start": 7000, "end": 7009},
            },
        ),
        201,
    )
    net = await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": f"vxnet{uuid.uuid4().hex[:4]}",
                "kind": "shared",
                "cidr": "10.88.0.0/24",
                "offering_id": "00000000-0000-4000-8000-00000000a002",
                "physical_network_id": physical["id"],
            },
        ),
        201,
    )
    platform.fleet.real_network.update(hosts)
    while any(network_queue(h) in platform.fleet.tasks for h in hosts):
        await asyncio.sleep(0.1)
    tag = uuid.uuid4().hex[:3]
    stop = asyncio.Event()
    where = {hosts[0]: (netlab.host_ns, netlab.ovs.db), hosts[1]: (second.ns, second.ovs.db)}
    agents = [
        asyncio.create_task(
            NetworkAgent(
                settings,
                h,
                netlab.state_dir / f"vx-{tag}-{i}",
                ovs_db=db_,
                bridge=f"{netlab.prefix}x{tag}",
                netns=ns,
                prefix=f"{netlab.prefix}{i}{tag}",
            ).run(stop)
        )
        for i, (h, (ns, db_)) in enumerate(where.items())
    ]
    try:
        apart = await ok(
            await api.post(
                "/affinity-groups", json={"name": f"apart{tag}", "kind": "host-anti-affinity"}
            ),
            201,
        )
        vms = [
            await running_on(api, fab, net["id"], affinity_group_ids=[apart["id"]])
            for _ in range(2)
        ]
        assert {v["host_id"] for v in vms} == {h["id"] for h in fab["hosts"]}
        guests, ips = [], []
        for n, vm in enumerate(vms):
            mac, ip = await _mac_of(db, vm["id"])
            host = next(h["name"] for h in fab["hosts"] if h["id"] == vm["host_id"])
            guests.append(netlab.guest_on(where[host][0], f"x{n}{tag}", port_names(mac)[1]))
            ips.append(ip)
        assert [netlab.dhcp(g, tmp_path) for g in guests] == ips  # one of them across VXLAN
        # The router tells its guests the tunnel's MTU (1500 less VXLAN's 50 bytes).
        pids = list(netlab.state_dir.glob(f"vx-{tag}-*/routers/*/dnsmasq.pid"))
        assert len(pids) == 1, pids
        proc = Path(f"/proc/{pids[0].read_text().strip()}/cmdline")
        cmdline = await asyncio.to_thread(proc.read_bytes)
        assert b"--dhcp-option=option:mtu,1450" in cmdline, cmdline
        assert netlab.reaches(guests[0], ips[1], timeout=15)
        assert netlab.reaches(guests[1], ips[0])
    finally:
        stop.set()
        await asyncio.gather(*agents)
        for ns, db_ in where.values():
            sh("ovs-vsctl", f"--db={db_}", "--if-exists", "del-br", f"{netlab.prefix}x{tag}",
               netns=ns)  # fmt: skip
        second.remove()
