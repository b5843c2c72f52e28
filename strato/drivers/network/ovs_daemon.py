"""A private Open vSwitch: ovsdb-server and ovs-vswitchd with everything (database,
sockets, pidfiles, logs) under one directory, optionally inside a network namespace, for
a host that runs none (the network agent) and for tests. See
shared/notes/network-lab.md: no systemd, userspace datapath only (bridges must be
``datapath_type=netdev``), one userspace OVS per network namespace.

Started with :meth:`PrivateOvs.start` (idempotent: one already running there is kept),
stopped with :meth:`PrivateOvs.stop` (``ovs-appctl exit``; what it created goes with it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from strato.drivers.network.base import NetworkError

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


def available() -> str | None:
    """None if this host can run a private OVS, else what is missing."""
    for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openvswitch-switch)"
    if not SCHEMA.exists():
        return f"{SCHEMA} is missing"
    return None


class PrivateOvs:
    def __init__(self, directory: Path, *, netns: str | None = None) -> None:
        self.dir = directory
        self.netns = netns
        self.db = f"unix:{directory / 'db.sock'}"

    def _env(self) -> dict[str, str]:
        d = str(self.dir)
        return {
            **os.environ,
            "OVS_RUNDIR": d,
            "OVS_LOGDIR": d,
            "OVS_DBDIR": d,
            "OVS_SYSCONFDIR": d,
        }

    def _run(self, *args: str) -> str:
        cmd = [*(["ip", "netns", "exec", self.netns] if self.netns else []), *args]
        done = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise NetworkError(f"{' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout

    def _alive(self, name: str) -> bool:
        pidfile = self.dir / f"{name}.pid"
        try:
            pid = int(pidfile.read_text().strip())
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return False
        return stat.split(")")[-1].split()[0] != "Z"  # a zombie is not running

    def start(self) -> None:
        missing = available()
        if missing:
            raise NetworkError(missing)
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "conf.db"
        if not conf.exists():
            self._run("ovsdb-tool", "create", str(conf), str(SCHEMA))
        if not self._alive("ovsdb-server"):
            self._run(
                "ovsdb-server",
                str(conf),
                f"--remote=punix:{self.dir / 'db.sock'}",
                f"--pidfile={self.dir / 'ovsdb-server.pid'}",
                f"--unixctl={self.dir / 'ovsdb-server.ctl'}",
                f"--log-file={self.dir / 'ovsdb-server.log'}",
                "--detach",
            )
            self._run("ovs-vsctl", f"--db={self.db}", "--no-wait", "init")
        if not self._alive("ovs-vswitchd"):
            self._run(
                "ovs-vswitchd",
                self.db,
                f"--pidfile={self.dir / 'ovs-vswitchd.pid'}",
                f"--unixctl={self.dir / 'ovs-vswitchd.ctl'}",
                f"--log-file={self.dir / 'ovs-vswitchd.log'}",
                "--detach",
            )
        deadline = time.monotonic() + 10
        while not (self._alive("ovs-vswitchd") and (self.dir / "db.sock").exists()):
            if time.monotonic() > deadline:
                raise NetworkError(f"the private OVS in {self.dir} did not come up")
            time.sleep(0.05)

    def stop(self) -> None:
        """Both daemons asked to exit; the switch with ``--cleanup``, so its datapath and
        its bridges' own devices (userspace taps in the namespace) go with it."""
        for name in ("ovs-vswitchd", "ovsdb-server"):
            if self._alive(name):
                try:
                    ctl = str(self.dir / f"{name}.ctl")
                    extra = ["--cleanup"] if name == "ovs-vswitchd" else []
                    self._run("ovs-appctl", "-t", ctl, "exit", *extra)
                except NetworkError:
                    pid = int((self.dir / f"{name}.pid").read_text().strip())
                    os.kill(pid, 15)
