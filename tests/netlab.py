"""Network lab for tests: a private Open vSwitch inside a "host" network namespace (one per
test run), and guests as namespaces; every name under one unique prefix, removed after.
See shared/notes/network-lab.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from strato.drivers.network.ovs_daemon import PrivateOvs, available
from tests.lab import LAB_ROOT


def sh(
    *args: str, netns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [*(["ip", "netns", "exec", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done


class SecondHost:
    def __init__(self, ns: str, ovs: PrivateOvs, lab_ip: str, ip: str) -> None:
        self.ns, self.ovs, self.lab_ip, self.ip = ns, ovs, lab_ip, ip

    def remove(self) -> None:
        self.ovs.stop()


class NetLab:
    def __init__(self, directory: Path) -> None:
        self.prefix = f"s{uuid.uuid4().hex[:5]}"
        self.host_ns = f"{self.prefix}-host"
        self.namespaces: list[str] = [self.host_ns]
        sh("ip", "netns", "add", self.host_ns)
        sh("ip", "link", "set", "lo", "up", netns=self.host_ns)
        self.ovs = PrivateOvs(directory / "ovs", netns=self.host_ns)
        self.ovs.start()
        # What an unprivileged daemon (dnsmasq) reads: under a directory it can traverse.
        self.state_dir = LAB_ROOT / self.prefix
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)

    def guest(self, name: str, device: str, address: str | None = None) -> str:
        """A guest namespace with ``device`` (moved from the host namespace) as eth0,
        with ``address`` (None: it asks DHCP later)."""
        ns = f"{self.prefix}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "set", device, "netns", ns, netns=self.host_ns)
        sh("ip", "link", "set", device, "name", "eth0", netns=ns)
        if address is not None:
            sh("ip", "addr", "add", address, "dev", "eth0", netns=ns)
        sh("ip", "link", "set", "eth0", "up", netns=ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        return ns

    def reaches(self, ns: str, address: str, timeout: float = 6.0) -> bool:
        """Whether ``ns`` gets an answer from ``address`` within ``timeout`` (the first
        reply after a port is tagged can take a second: poll, don't ping once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sh("ping", "-c", "1", "-W", "1", address, netns=ns, check=False).returncode == 0:
                return True
        return False

    def resolv(self, ns: str, text: str) -> None:
        """The guest's own /etc/resolv.conf (``ip netns exec`` mounts /etc/netns/<ns>/
        over /etc: the host's file is never touched)."""
        d = Path("/etc/netns") / ns
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text(text)

    def dhcp(self, ns: str, directory: Path) -> str:
        """A DHCP lease for the guest's eth0 (busybox udhcpc with a private script that
        only sets the address and route): the address it got."""
        script = directory / "udhcpc.sh"
        script.write_text(
            "#!/bin/sh\n"
            'case "$1" in bound|renew)\n'
            "  ip addr flush dev $interface\n"
            "  ip addr add $ip/$mask dev $interface\n"
            '  [ -n "$router" ] && ip route replace default via ${router%% *}\n'
            "  echo $ip > " + str(directory / f"{ns}.lease") + "\n"
            ";;\nesac\n"
        )
        script.chmod(0o755)
        sh(
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-t",
            "8",
            "-T",
            "1",
            "-s",
            str(script),
            netns=ns,
        )
        return (directory / f"{ns}.lease").read_text().strip()

    def second_host(self, directory: Path) -> SecondHost:
        """Another "host": a namespace with its own private OVS, joined to the lab's host
        by an underlay veth (192.168.77.1 here, .2 there, each on a ``br-phy`` whose
        internal port holds the address: OVS's userspace tunnelling)."""
        tag = uuid.uuid4().hex[:3]
        ns = f"{self.prefix}-hb{tag}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        ovs = PrivateOvs(directory / f"ovs-{tag}", netns=ns)
        ovs.start()
        ua, ub = f"{self.prefix}ua{tag}", f"{self.prefix}ub{tag}"
        phy = {self.host_ns: f"{self.prefix}pa{tag}", ns: f"{self.prefix}pb{tag}"}
        sh("ip", "link", "add", ua, "type", "veth", "peer", "name", ub, netns=self.host_ns)
        sh("ip", "link", "set", ub, "netns", ns, netns=self.host_ns)
        for where, db, dev, ip in (
            (self.host_ns, self.ovs.db, ua, "192.168.77.1/24"),
            (ns, ovs.db, ub, "192.168.77.2/24"),
        ):
            sh("ip", "link", "set", "lo", "up", netns=where)
            sh("ethtool", "-K", dev, "tx", "off", netns=where, check=False)
            sh("ip", "link", "set", dev, "up", netns=where)
            br = phy[where]
            sh("ovs-vsctl", f"--db={db}", "add-br", br, "--", "set", "Bridge", br,
               "datapath_type=netdev", "--", "add-port", br, dev, netns=where)  # fmt: skip
            sh("ip", "addr", "add", ip, "dev", br, netns=where)
            sh("ip", "link", "set", br, "up", netns=where)
        host = SecondHost(ns, ovs, "192.168.77.1", "192.168.77.2")

        def remove() -> None:
            ovs.stop()
            sh("ip", "link", "del", ua, netns=self.host_ns, check=False)
            sh("ovs-vsctl", f"--db={self.ovs.db}", "--if-exists", "del-br", phy[self.host_ns],
               netns=self.host_ns, check=False)  # fmt: skip

        host.remove = remove  # type: ignore[method-assign]
        return host

    def guest_on(self, host_ns: str, name: str, device: str, address: str | None = None) -> str:
        """A guest namespace whose port is on another host namespace than the lab's."""
        ns = f"{self.prefix}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "set", device, "netns", ns, netns=host_ns)
        sh("ip", "link", "set", device, "name", "eth0", netns=ns)
        if address is not None:
            sh("ip", "addr", "add", address, "dev", "eth0", netns=ns)
        sh("ip", "link", "set", "eth0", "up", netns=ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        return ns

    def cleanup(self) -> None:
        self.ovs.stop()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def netlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetLab]:
    missing = available()
    if missing:
        if os.environ.get("STRATO_REQUIRE_NETLAB") == "1":  # CI: a missing lab is a failure
            pytest.fail(f"the network lab is required: {missing}")
        pytest.skip(missing)
    lab = NetLab(tmp_path_factory.mktemp("netlab"))
    try:
        yield lab
    finally:
        lab.cleanup()
