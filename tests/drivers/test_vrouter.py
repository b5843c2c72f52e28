"""The virtual router on a real (private) Open vSwitch, guests as namespaces: each guest
gets its IPAM address by DHCP from the router's dnsmasq, resolves the other by name and
pings it; a guest reaches an "external" namespace through source NAT (the external side
sees the router's public address); the router re-applied with a new host keeps its
dnsmasq; destroyed, nothing of it is left."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

from strato.domain.network.specs import (
    DhcpHost,
    FirewallRule,
    NetworkSpec,
    PortForward,
    PortSpec,
    RouterPublic,
    RouterSpec,
    StaticNat,
)
from strato.drivers.network.ovs import OvsElement
from strato.drivers.network.vrouter import VirtualRouter
from tests.netlab import NetLab, netlab, sh

__all__ = ["netlab"]


def _running(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie left for a PID 1 that does not reap is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def _mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:5])


async def test_a_router_serves_leases_names_and_source_nat(netlab: NetLab, tmp_path: Path) -> None:
    lab = netlab
    ovs = OvsElement(
        "h1", db=lab.ovs.db, bridge=f"{lab.prefix}r{uuid.uuid4().hex[:3]}", netns=lab.host_ns
    )
    # dnsmasq drops to an unprivileged user: its files live where that user can read.
    router = VirtualRouter(ovs, lab.state_dir / "routers", prefix=lab.prefix)
    net, public = f"iso-{uuid.uuid4().hex[:6]}", f"pub-{uuid.uuid4().hex[:6]}"
    await ovs.implement_network(NetworkSpec(name=net, kind="isolated", segment="401"))
    await ovs.implement_network(NetworkSpec(name=public, kind="shared"))
    tag = uuid.uuid4().hex[:3]
    web, db = _mac(), _mac()
    ports = {m: await ovs.plug(PortSpec(network=net, mac=m)) for m in (web, db)}
    ext_port = await ovs.plug(PortSpec(network=public, mac=_mac()))
    g_web = lab.guest(f"w{tag}", ports[web].device)
    g_db = lab.guest(f"d{tag}", ports[db].device)
    ext = lab.guest(f"x{tag}", ext_port.device, "203.0.113.1/24")
    spec = RouterSpec(
        network=net,
        tag=401,
        cidr="10.50.0.0/24",
        address="10.50.0.1",
        domain="t.internal",
        hosts=[
            DhcpHost(mac=web, ip="10.50.0.11", hostname="web"),
            DhcpHost(mac=db, ip="10.50.0.12", hostname="db"),
        ],
        public=RouterPublic(address="203.0.113.10/24", gateway="203.0.113.1"),
    )
    try:
        info = await router.apply(spec)
        assert info.dnsmasq_pid and info.namespace == router.namespace(net)

        # Each guest gets its IPAM address from the router, and resolves the other.
        assert lab.dhcp(g_web, tmp_path) == "10.50.0.11"
        assert lab.dhcp(g_db, tmp_path) == "10.50.0.12"
        for ns in (g_web, g_db):
            lab.resolv(ns, "nameserver 10.50.0.1\nsearch t.internal\n")
        got = sh("getent", "hosts", "db", netns=g_web).stdout.split()
        assert got[0] == "10.50.0.12", got
        assert lab.reaches(g_web, "db") and lab.reaches(g_db, "web.t.internal")

        # Out through source NAT: the external side sees the router's public address.
        log = tmp_path / "http.log"
        server = _http(ext, "203.0.113.1", 8080, tmp_path, log)
        try:
            assert await _fetch(g_web, "http://203.0.113.1:8080/http.log")
        finally:
            server.terminate()
            server.wait(timeout=10)
        seen = log.read_text()
        assert "203.0.113.10" in seen and "10.50.0.11" not in seen, seen

        # Re-applied whole with one more host: the same dnsmasq re-reads its hosts.
        more = spec.model_copy(
            update={"hosts": [*spec.hosts, DhcpHost(mac=_mac(), ip="10.50.0.13", hostname="app")]}
        )
        again = await router.apply(more)
        assert again.dnsmasq_pid == info.dnsmasq_pid
        status = await router.status(net)
        assert status is not None and status.hosts == 3
        deadline = time.monotonic() + 5
        while sh("getent", "hosts", "app", netns=g_web, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the new host's name never resolved"
            await asyncio.sleep(0.2)

        # A new domain is a dnsmasq option: a new dnsmasq. No public side: its port goes.
        moved = await router.apply(more.model_copy(update={"domain": "u.internal", "public": None}))
        assert moved.dnsmasq_pid != info.dnsmasq_pid and _running(moved.dnsmasq_pid)
        assert not _running(info.dnsmasq_pid)
        bridge_ports = sh(
            "ovs-vsctl", f"--db={lab.ovs.db}", "list-ports", ovs.bridge, netns=lab.host_ns
        ).stdout
        assert "rp" not in bridge_ports and "rg" in bridge_ports, bridge_ports
        info = moved
    finally:
        await router.destroy(net)
    assert await router.status(net) is None
    assert not await asyncio.to_thread(_running, info.dnsmasq_pid)
    ports_left = sh(
        "ovs-vsctl", f"--db={lab.ovs.db}", "list-ports", ovs.bridge, netns=lab.host_ns
    ).stdout
    assert "rg" not in ports_left and "rp" not in ports_left, ports_left
    await ovs.shutdown_network(net)
    await ovs.shutdown_network(public)


async def test_port_forwarding_static_nat_and_the_firewall(netlab: NetLab, tmp_path: Path) -> None:
    """From an external namespace: a forwarded port reaches a guest's web server while a
    firewall rule allows it, and not once the rule is gone; a static-NAT address reaches
    its guest (ICMP allowed), and that guest leaves as it."""
    lab = netlab
    ovs = OvsElement(
        "h1", db=lab.ovs.db, bridge=f"{lab.prefix}f{uuid.uuid4().hex[:3]}", netns=lab.host_ns
    )
    router = VirtualRouter(ovs, lab.state_dir / "routers", prefix=lab.prefix)
    net, public = f"iso-{uuid.uuid4().hex[:6]}", f"pub-{uuid.uuid4().hex[:6]}"
    await ovs.implement_network(NetworkSpec(name=net, kind="isolated", segment="402"))
    await ovs.implement_network(NetworkSpec(name=public, kind="shared"))
    tag = uuid.uuid4().hex[:3]
    web, db = _mac(), _mac()
    ports = {m: await ovs.plug(PortSpec(network=net, mac=m)) for m in (web, db)}
    ext_port = await ovs.plug(PortSpec(network=public, mac=_mac()))
    g_web = lab.guest(f"w{tag}", ports[web].device, "10.60.0.11/24")
    g_db = lab.guest(f"d{tag}", ports[db].device, "10.60.0.12/24")
    for ns in (g_web, g_db):
        sh("ip", "route", "add", "default", "via", "10.60.0.1", netns=ns)
    ext = lab.guest(f"x{tag}", ext_port.device, "203.0.113.1/24")
    allow_web = FirewallRule(
        public_ip="203.0.113.20", protocol="tcp", start=8080, end=8080, cidrs=["203.0.113.0/24"]
    )
    spec = RouterSpec(
        network=net,
        tag=402,
        cidr="10.60.0.0/24",
        address="10.60.0.1",
        public=RouterPublic(address="203.0.113.10/24", gateway="203.0.113.1"),
        public_ips=["203.0.113.20", "203.0.113.21"],
        port_forwards=[
            PortForward(
                public_ip="203.0.113.20",
                protocol="tcp",
                public_port=8080,
                public_end=8080,
                private_ip="10.60.0.11",
                private_port=80,
            )
        ],
        static_nats=[StaticNat(public_ip="203.0.113.21", private_ip="10.60.0.12")],
        firewall=[allow_web, FirewallRule(public_ip="203.0.113.21", protocol="icmp")],
    )
    servers = []
    try:
        await router.apply(spec)
        web_log, ext_log = tmp_path / "web.log", tmp_path / "ext.log"
        servers = [
            _http(g_web, "10.60.0.11", 80, tmp_path, web_log),
            _http(ext, "203.0.113.1", 8081, tmp_path, ext_log),
        ]
        assert await _fetch(ext, "http://203.0.113.20:8080/web.log")
        assert "203.0.113.1" in web_log.read_text()  # DNAT keeps the client's address
        assert lab.reaches(ext, "203.0.113.21")  # static NAT, ICMP allowed
        assert await _fetch(g_db, "http://203.0.113.1:8081/ext.log")
        assert "203.0.113.21" in ext_log.read_text()  # the static-NAT guest leaves as it

        # The firewall rule removed (the router applied whole without it): blocked.
        await router.apply(spec.model_copy(update={"firewall": spec.firewall[1:]}))
        assert not await _fetch(ext, "http://203.0.113.20:8080/web.log", timeout=3)
        await router.apply(spec)  # and back
        assert await _fetch(ext, "http://203.0.113.20:8080/web.log")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        await router.destroy(net)
        await ovs.shutdown_network(net)
        await ovs.shutdown_network(public)


def _http(ns: str, bind: str, port: int, root: Path, log: Path) -> subprocess.Popen[bytes]:
    """A web server in ``ns`` that logs its clients' addresses, once it listens."""
    cmd = [sys.executable, "-u", "-m", "http.server", str(port), "--bind", bind]
    with log.open("w") as out:
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd, "--directory", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while "Serving HTTP" not in log.read_text():
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return server


async def _fetch(ns: str, url: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # (busybox 1.35's own wget -T crashes: coreutils' timeout bounds it instead)
        got = sh(
            "timeout", "2", "busybox", "wget", "-q", "-O", "/dev/null", url, netns=ns, check=False
        )
        if got.returncode == 0:
            return True
        await asyncio.sleep(0.3)
    return False
