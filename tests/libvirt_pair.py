"""Two libvirt hosts on one machine, for live migration: each a private ``libvirtd`` (and
its ``virtlogd``) in its own network and mount namespaces, with its own host UUID, state,
run and config directories (bind-mounted over /run/libvirt, /var/lib/libvirt,
/etc/libvirt, /var/cache/libvirt and /var/log/libvirt inside its mount namespace) and
its socket in a directory the test's processes reach
(``qemu+unix:///system?socket=...``). The two namespaces are joined by a veth pair; each
daemon's ``migration_host`` is its own address on it, so QEMU's migration stream crosses
it. libvirt refuses a migration to the same host (same UUID): these are two hosts.

The system daemon is not touched. Everything is named by a unique prefix and removed
afterwards: the domains left (destroyed), the daemons (by their PID files), the
namespaces (and the veth pair with them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Bind-mounted inside each daemon's mount namespace: the system paths its libvirtd uses.
_PRIVATE = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "etc": "/etc/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}


@dataclass
class Daemon:
    name: str
    root: Path
    netns: str
    address: str

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.root / 'sock' / 'libvirt-sock'}"

    def pid(self, daemon: str) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int((self.root / f"{daemon}.pid").read_text().strip())
        return None


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def _start(d: Daemon) -> None:
    for sub in (*_PRIVATE, "sock"):
        (d.root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree("/etc/libvirt", d.root / "etc", dirs_exist_ok=True)
    # QEMU's probed capabilities: the daemon's first call need not probe QEMU again.
    shutil.copytree("/var/cache/libvirt", d.root / "cache", dirs_exist_ok=True)
    with (d.root / "etc" / "libvirtd.conf").open("a") as f:
        f.write(f'\nunix_sock_dir = "{d.root / "sock"}"\nhost_uuid = "{uuid.uuid4()}"\n')
    with (d.root / "etc" / "qemu.conf").open("a") as f:
        # No cgroups: two daemons on one machine would share the machine slice's names.
        f.write(f'\nmigration_host = "{d.address}"\ncgroup_controllers = [ ]\n')
    mounts = " && ".join(f"mount --bind {d.root / k} {v}" for k, v in _PRIVATE.items())
    script = (
        f"{mounts} && virtlogd -d -p {d.root / 'virtlogd.pid'}"
        f" && libvirtd -d -p {d.root / 'libvirtd.pid'}"
    )
    _sh("ip", "netns", "exec", d.netns, "unshare", "--mount", "--propagation", "private",
        "sh", "-c", script)  # fmt: skip
    sock = d.root / "sock" / "libvirt-sock"
    deadline = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"libvirtd {d.name} did not make {sock}")
        time.sleep(0.1)


def _stop(d: Daemon) -> None:
    with contextlib.suppress(Exception):
        import libvirt

        conn = libvirt.open(d.uri)
        for dom in conn.listAllDomains(0):
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(1 | 2 | 4)
        conn.close()
    for daemon in ("libvirtd", "virtlogd"):
        pid = d.pid(daemon)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def libvirt_pair() -> Iterator[tuple[Daemon, Daemon]]:
    """Two private libvirt daemons, ``a`` and ``b``, that can migrate to each other."""
    if shutil.which("libvirtd") is None or shutil.which("unshare") is None:
        pytest.skip("libvirtd and unshare are needed (scripts/libvirt-host install)")
    prefix = f"slp{uuid.uuid4().hex[:5]}"
    subnet = 100 + int(prefix[3:5], 16) % 100  # 10.214.<n>.0/24, by prefix
    root = Path("/tmp") / prefix
    pair = (
        Daemon("a", root / "a", f"{prefix}a", f"10.214.{subnet}.1"),
        Daemon("b", root / "b", f"{prefix}b", f"10.214.{subnet}.2"),
    )
    try:
        for d in pair:
            _sh("ip", "netns", "add", d.netns)
        _sh("ip", "link", "add", f"{prefix}va", "type", "veth", "peer", "name", f"{prefix}vb")
        for d, dev in zip(pair, ("va", "vb"), strict=True):
            _sh("ip", "link", "set", f"{prefix}{dev}", "netns", d.netns)
            ns = ("ip", "netns", "exec", d.netns)
            _sh(*ns, "ip", "addr", "add", f"{d.address}/24", "dev", f"{prefix}{dev}")
            _sh(*ns, "ip", "link", "set", f"{prefix}{dev}", "up")
            _sh(*ns, "ip", "link", "set", "lo", "up")
        for d in pair:
            _start(d)
        yield pair
    finally:
        for d in pair:
            _stop(d)
        for d in pair:
            subprocess.run(["ip", "netns", "del", d.netns], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
