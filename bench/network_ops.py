"""Network operations through Strato's drivers vs the same operations done directly with
ovs-vsctl, ip, dnsmasq and nft, side by side in one run, on a private Open vSwitch in a
"host" network namespace (as the tests run it; see tests/netlab.py).

1. A new isolated network's router up and its first lease served: VirtualRouter.apply
   (namespace, guest port on the bridge, dnsmasq with a static lease, nftables) then a
   guest's DHCP (busybox udhcpc) vs the same commands typed out, then the same DHCP.
2. NIC plugs on one host: N ports through OvsElement.plug (each converges: it reads the
   switch first) vs what a working port takes by hand: ``ip link add`` (the peer's MAC),
   ``ethtool -K .. tx off`` on both sides, ``ovs-vsctl add-port`` with its tag and ids.
3. A firewall ruleset of R rules applied to a router: the router's nftables table
   rendered from its spec and loaded (nft.render + ``nft -f``) vs ``nft -f`` of the same
   rules written by hand.

Runs alternate (Strato, direct, ...). Needs root, openvswitch-switch, dnsmasq, nftables,
busybox. Target (#13): Strato <= 1.3x of the direct commands for each.
Run: python -m bench.network_ops [ROUNDS] [NICS] [RULES]   (default 3 200 1000)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from strato.domain.network.specs import (
    DhcpHost,
    FirewallRule,
    NetworkSpec,
    PortSpec,
    RouterPublic,
    RouterSpec,
)
from strato.drivers.network import nft
from strato.drivers.network.ovs import OvsElement
from strato.drivers.network.vrouter import VirtualRouter
from tests.netlab import NetLab, sh


def _mac(i: int, salt: int) -> str:
    return f"02:{salt:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01"


async def _router_strato(lab: NetLab, ovs: OvsElement, router: VirtualRouter, n: int) -> float:
    net = f"bench-{n}"
    mac = _mac(1, 0x40 + n)
    await ovs.implement_network(NetworkSpec(name=net, segment=str(600 + n)))
    port = await ovs.plug(PortSpec(network=net, mac=mac))
    guest = lab.guest(f"bs{n}", port.device)
    spec = RouterSpec(
        network=net,
        tag=600 + n,
        cidr=f"10.{100 + n}.0.0/24",
        address=f"10.{100 + n}.0.1",
        hosts=[DhcpHost(mac=mac, ip=f"10.{100 + n}.0.5", hostname="g")],
        public=RouterPublic(address=f"203.0.113.{10 + n}/24", gateway="203.0.113.1"),
    )
    t0 = time.perf_counter()
    await router.apply(spec)
    sh(
        "busybox",
        "udhcpc",
        "-i",
        "eth0",
        "-n",
        "-q",
        "-t",
        "10",
        "-T",
        "1",
        "-s",
        "/bin/true",
        netns=guest,
    )
    took = time.perf_counter() - t0
    await router.destroy(net)
    await ovs.shutdown_network(net)
    return took


def _router_direct(lab: NetLab, ovs: OvsElement, work: Path, n: int) -> float:
    """The same router, typed out: namespace, veth, OVS port, address, dnsmasq, nft."""
    tag, mac = 700 + n, _mac(1, 0x80 + n)
    host, peer = f"dh{n:04d}", f"dg{n:04d}"
    sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer, netns=lab.host_ns)
    sh("ip", "link", "set", peer, "address", mac, netns=lab.host_ns)
    sh("ethtool", "-K", peer, "tx", "off", netns=lab.host_ns, check=False)
    sh(
        "ovs-vsctl",
        f"--db={lab.ovs.db}",
        "add-port",
        ovs.bridge,
        host,
        f"tag={tag}",
        netns=lab.host_ns,
    )
    sh("ip", "link", "set", host, "up", netns=lab.host_ns)
    guest = lab.guest(f"bd{n}", peer)
    ns, r_out, r_in = f"{lab.prefix}-dr{n}", f"dr{n:04d}", f"di{n:04d}"
    d = work / f"direct-{n}"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    (d / "hosts").write_text(f"{mac},10.{150 + n}.0.5,g\n")
    (d / "hosts").chmod(0o644)
    (d / "rules.nft").write_text(
        "table ip direct {\n  chain postrouting {\n    type nat hook postrouting priority "
        f'srcnat; policy accept;\n    ip saddr 10.{150 + n}.0.0/24 oifname "{r_in}" '
        f"snat to 203.0.113.{60 + n}\n  }}\n}}\n"
    )
    t0 = time.perf_counter()
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", r_out, "type", "veth", "peer", "name", r_in, netns=lab.host_ns)
    sh("ethtool", "-K", r_in, "tx", "off", netns=lab.host_ns, check=False)
    sh("ip", "link", "set", r_in, "netns", ns, netns=lab.host_ns)
    sh(
        "ovs-vsctl",
        f"--db={lab.ovs.db}",
        "add-port",
        ovs.bridge,
        r_out,
        f"tag={tag}",
        netns=lab.host_ns,
    )
    sh("ip", "link", "set", r_out, "up", netns=lab.host_ns)
    sh("ip", "addr", "add", f"10.{150 + n}.0.1/24", "dev", r_in, netns=ns)
    sh("ip", "link", "set", r_in, "up", netns=ns)
    sh(
        "dnsmasq",
        "--conf-file=/dev/null",
        f"--pid-file={d / 'pid'}",
        f"--dhcp-hostsfile={d / 'hosts'}",
        f"--interface={r_in}",
        "--bind-interfaces",
        f"--dhcp-range=10.{150 + n}.0.0,static,255.255.255.0",
        "--no-resolv",
        "--no-hosts",
        "--no-ping",
        netns=ns,
    )
    sh("nft", "-f", str(d / "rules.nft"), netns=ns)
    sh(
        "busybox",
        "udhcpc",
        "-i",
        "eth0",
        "-n",
        "-q",
        "-t",
        "10",
        "-T",
        "1",
        "-s",
        "/bin/true",
        netns=guest,
    )
    took = time.perf_counter() - t0
    pid = (d / "pid").read_text().strip()
    sh("kill", pid, check=False)
    sh("ovs-vsctl", f"--db={lab.ovs.db}", "del-port", ovs.bridge, r_out, netns=lab.host_ns)
    sh("ovs-vsctl", f"--db={lab.ovs.db}", "del-port", ovs.bridge, host, netns=lab.host_ns)
    sh("ip", "link", "del", r_out, netns=lab.host_ns, check=False)
    sh("ip", "link", "del", host, netns=lab.host_ns, check=False)
    sh("ip", "netns", "del", ns, check=False)
    return took


async def _plugs_strato(ovs: OvsElement, count: int, salt: int) -> float:
    net = f"plugs-{salt}"
    await ovs.implement_network(NetworkSpec(name=net, segment=str(800 + salt)))
    t0 = time.perf_counter()
    for i in range(count):
        await ovs.plug(PortSpec(network=net, mac=_mac(i, salt)))
    took = time.perf_counter() - t0
    await ovs.shutdown_network(net)
    return took


def _plugs_direct(lab: NetLab, ovs: OvsElement, count: int, salt: int) -> float:
    """What a working port takes by hand: the pair (the guest side with its MAC), TX
    checksums off on both sides (the userspace datapath needs it), the tagged OVS port
    with its external_ids."""
    t0 = time.perf_counter()
    names = []
    for i in range(count):
        host, peer = f"ph{salt:02x}{i:05d}", f"pg{salt:02x}{i:05d}"
        mac = _mac(i, 0xC0 + salt)
        sh(
            "ip",
            "link",
            "add",
            host,
            "up",
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "address",
            mac,
            netns=lab.host_ns,
        )
        for dev in (host, peer):
            sh("ethtool", "-K", dev, "tx", "off", netns=lab.host_ns, check=False)
        sh(
            "ovs-vsctl",
            f"--db={lab.ovs.db}",
            "add-port",
            ovs.bridge,
            host,
            "--",
            "set",
            "Port",
            host,
            f"tag={900 + salt}",
            f"external_ids:strato-mac={mac}",
            netns=lab.host_ns,
        )
        names.append(host)
    took = time.perf_counter() - t0
    for host in names:
        sh("ovs-vsctl", f"--db={lab.ovs.db}", "del-port", ovs.bridge, host, netns=lab.host_ns)
        sh("ip", "link", "del", host, netns=lab.host_ns, check=False)
    return took


def _ruleset(rules: int) -> RouterSpec:
    return RouterSpec(
        network="rules",
        tag=0,
        cidr="10.200.0.0/24",
        address="10.200.0.1",
        public=RouterPublic(address="203.0.113.200/24", gateway="203.0.113.1"),
        firewall=[
            FirewallRule(
                public_ip="203.0.113.200",
                protocol="tcp",
                start=1000 + i,
                end=1000 + i,
                cidrs=[f"10.{i // 250}.{i % 250}.0/24"],
            )
            for i in range(rules)
        ],
    )


def _firewall(ns: str, work: Path, rules: int, direct: bool) -> float:
    """The ruleset rendered (or written out), saved and loaded. The spec is the router's
    input (an activity's argument), built before the clock starts."""
    path = work / f"fw-{'d' if direct else 's'}.nft"
    spec = _ruleset(rules)
    t0 = time.perf_counter()
    if direct:
        lines = "".join(
            f'    iifname "pub" ct original ip daddr 203.0.113.200 ip saddr {{ 10.{i // 250}.'
            f"{i % 250}.0/24 }} meta l4proto tcp ct original proto-dst {1000 + i} accept\n"
            for i in range(rules)
        )
        path.write_text(
            "table ip direct\ndelete table ip direct\ntable ip direct {\n  chain forward {\n"
            "    type filter hook forward priority filter; policy accept;\n"
            f'{lines}    iifname "pub" ct state new drop\n  }}\n}}\n'
        )
    else:
        path.write_text(nft.render(spec, "pub"))
    sh("nft", "-f", str(path), netns=ns)
    return time.perf_counter() - t0


async def main(rounds: int, nics: int, rules: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="strato-bench-net-"))
    lab = NetLab(work)
    ovs = OvsElement("bench", db=lab.ovs.db, bridge=f"{lab.prefix}b", netns=lab.host_ns)
    router = VirtualRouter(ovs, lab.state_dir / "routers", prefix=lab.prefix)
    await ovs.ensure_bridge()
    fw_ns = f"{lab.prefix}-fw"
    sh("ip", "netns", "add", fw_ns)
    lab.namespaces.append(fw_ns)
    results: dict[str, tuple[list[float], list[float]]] = {
        "router up + first lease": ([], []),
        f"{nics} NIC plugs": ([], []),
        f"firewall, {rules} rules": ([], []),
    }
    try:
        for n in range(rounds):
            s, d = results["router up + first lease"]
            s.append(await _router_strato(lab, ovs, router, n))
            d.append(_router_direct(lab, ovs, lab.state_dir, n))
            s, d = results[f"{nics} NIC plugs"]
            s.append(await _plugs_strato(ovs, nics, n))
            d.append(_plugs_direct(lab, ovs, nics, n))
            s, d = results[f"firewall, {rules} rules"]
            s.append(_firewall(fw_ns, lab.state_dir, rules, direct=False))
            d.append(_firewall(fw_ns, lab.state_dir, rules, direct=True))
            print(f"round {n} done", flush=True)
    finally:
        lab.cleanup()
    print(f"\nmedians of {rounds} rounds (Strato beside the direct commands, one run):")
    for name, (s, d) in results.items():
        ms, md = statistics.median(s), statistics.median(d)
        print(
            f"  {name:28} strato {ms * 1000:9.1f} ms   direct {md * 1000:9.1f} ms   "
            f"ratio {ms / md:5.2f}x"
        )
    print("  target: <= 1.3x each")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [3, 200, 1000][len(args) :])))
