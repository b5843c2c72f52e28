"""The virtual router of a guest network (CloudStack's virtual router, Neutron's l3 and
dhcp agents): a network namespace on a host with a guest-side and a public-side port on
the host's Open vSwitch bridge, dnsmasq for DHCP (a static lease per guest, from IPAM)
and DNS (the guests' names), nftables (:mod:`nft`) for source NAT, static NAT, port
forwarding and the firewall on its public addresses.

:meth:`VirtualRouter.apply` makes the router exactly what its :class:`RouterSpec` says,
whole, every time (never a delta): a retry, or a restart after a crash, converges to the
same router. dnsmasq re-reads its hosts on SIGHUP; the nftables table is replaced in one
transaction. :meth:`VirtualRouter.destroy` removes everything it made (the process
first: deleting a namespace does not kill what runs in it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from strato.domain.network.specs import RouterInfo, RouterSpec, UserData, router_digest
from strato.drivers.network import netdev, nft
from strato.drivers.network.base import NetworkError, Router
from strato.drivers.network.ovs import OvsElement, in_netns

METADATA_IP = "169.254.169.254"


def _short(network: str) -> str:
    return hashlib.sha1(network.encode()).hexdigest()[:8]


def _alive(pidfile: Path, program: str = "dnsmasq") -> int | None:
    """The pid in ``pidfile`` if that process runs and is the ``program`` that wrote it
    (after a reboot the number may be any other process's; a zombie does not run):
    dnsmasq named with the pid file, or the metadata service with its directory."""
    try:
        pid = int(pidfile.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if program == "dnsmasq":
        ours = (
            bool(cmdline)
            and cmdline[0].endswith(b"dnsmasq")
            and (f"--pid-file={pidfile}".encode() in cmdline)
        )
    else:  # ip netns exec execs the server in place: its pid is the server's
        ours = b"strato.drivers.network.metadata" in cmdline and (
            str(pidfile.parent).encode() in cmdline
        )
    return pid if ours and stat.split(")")[-1].split()[0] != "Z" else None


async def _exec(*args: str, ok_codes: tuple[int, ...] = (0,), stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode not in ok_codes:
        raise NetworkError(f"{' '.join(args[:5])}: {err.decode(errors='replace').strip()}")
    return out.decode()


class VirtualRouter(Router):
    name = "vrouter"

    def __init__(self, ovs: OvsElement, state_dir: Path, *, prefix: str = "strato") -> None:
        self.ovs = ovs
        self.state_dir = state_dir
        self.prefix = prefix

    def namespace(self, network: str) -> str:
        return f"{self.prefix}-r{_short(network)}"

    def _dir(self, network: str) -> Path:
        return self.state_dir / _short(network)

    async def _ns(
        self, ns: str, *args: str, ok_codes: tuple[int, ...] = (0,), stdin: str | None = None
    ) -> str:
        """A command in the router's namespace (entered from the root one: namespaces
        are not entered from within another)."""
        return await _exec(*in_netns(ns, args), ok_codes=ok_codes, stdin=stdin)

    async def _sh(
        self, *args: str, ok_codes: tuple[int, ...] = (0,), stdin: str | None = None
    ) -> str:
        """A command where the host's switch is (its namespace, if any)."""
        return await self.ovs.run(*args, ok_codes=ok_codes, stdin=stdin)

    async def _links(self, ns: str, net: str, pairs: list[tuple[str, str, int, str]]) -> None:
        """The router's veth pairs (``outer`` on the bridge with its tag, ``inner`` in the
        router), each made or converged, in one ``ip -batch`` on each side and one switch
        transaction; a public pair the spec no longer has removed. The host's links are
        never listed (their number grows with its ports): the pairs' own names are looked
        up."""
        h = _short(net)
        wanted = {outer for outer, *_ in pairs}
        stale = {f"rp{h}"} - wanted
        inner_names = [inner for _, inner, *_ in pairs]
        here = await netdev.existing(self.ovs.netns, [*wanted, *stale, *inner_names])
        host_side = []
        for outer, inner, *_ in pairs:
            if outer not in here:
                host_side.append(f"link add {outer} up type veth peer name {inner} netns {ns}")
                continue
            if inner in here:  # a pair made before it moved in (an older agent, a crash)
                host_side.append(f"link set {inner} netns {ns}")
            host_side.append(f"link set {outer} up")
        host_side += [f"link del {name}" for name in sorted(stale & here)]
        await self._sh("ip", "-batch", "-", stdin="".join(f"{c}\n" for c in host_side))
        await netdev.tx_checksum_off(self.ovs.netns, sorted(wanted))
        await netdev.tx_checksum_off(ns, inner_names)
        ports: list[str] = []
        for outer, _, tag, role in pairs:
            ports += ["--", "--may-exist", "add-port", self.ovs.bridge, outer]
            ports += ["--", "set", "Port", outer, f"external_ids:strato-router={net}"]
            ports += [f"external_ids:strato-role={role}", f"tag={tag}" if tag else "tag=[]"]
        for name in sorted(stale):
            ports += ["--", "--if-exists", "del-port", self.ovs.bridge, name]
        await self.ovs.vsctl(*ports[1:])

    def _generation(self, network: str) -> int:
        try:
            return int((self._dir(network) / "generation").read_text())
        except (OSError, ValueError):
            return 0

    async def apply(self, spec: RouterSpec) -> RouterInfo:
        applied = self._generation(spec.network)
        if spec.generation and applied > spec.generation:
            info = await self.status(spec.network)
            if info is not None:
                return info.model_copy(update={"skipped": True})
        info = await self._apply(spec)
        digest = router_digest(spec)
        (self._dir(spec.network) / "generation").write_text(str(spec.generation))
        (self._dir(spec.network) / "digest").write_text(digest)
        return info.model_copy(update={"digest": digest})

    async def _apply(self, spec: RouterSpec) -> RouterInfo:
        ns, h = self.namespace(spec.network), _short(spec.network)
        net = ipaddress.IPv4Network(spec.cidr)
        self._dir(spec.network).mkdir(parents=True, exist_ok=True)
        (self._dir(spec.network) / "network").write_text(spec.network)
        # Its namespace, made once (``ip netns`` keeps each as a file: no listing).
        new = not os.path.exists(f"/run/netns/{ns}")  # noqa: ASYNC240 - one stat
        if new:
            await _exec("ip", "netns", "add", ns)
        await self.ovs.ensure_bridge()
        pairs = [(f"rg{h}", f"ig{h}", spec.tag, "guest")]
        if spec.public is not None:
            pairs.append((f"rp{h}", f"ip{h}", spec.public.tag, "public"))
        await self._links(ns, spec.network, pairs)
        # Inside the router, in one batch: its links up, exactly its addresses, its route.
        guest_side = [f"{spec.address}/{net.prefixlen}"]
        if spec.metadata:
            guest_side.append(f"{METADATA_IP}/32")
        wanted = {f"ig{h}": guest_side}
        if spec.public is not None:
            prefix = spec.public.address.split("/")[1]
            wanted[f"ip{h}"] = [
                spec.public.address,
                *(f"{ip}/{prefix}" for ip in spec.public_ips),
            ]
        inside = ["link set lo up"] if new else []
        inside += [f"link set {dev} up" for dev in wanted]
        inside += await self._addresses(ns, wanted, new)
        if spec.public is not None:
            inside.append(f"route replace default via {spec.public.gateway}")
        await self._ns(ns, "ip", "-batch", "-", stdin="".join(f"{c}\n" for c in inside))
        if spec.public is not None:
            await netdev.sysctl(ns, "net.ipv4.ip_forward", "1")
        await self._nat(ns, spec, f"ip{h}")
        pid = await self._dnsmasq(ns, spec, f"ig{h}", net)
        await self._metadata(ns, spec)
        return RouterInfo(
            network=spec.network,
            namespace=ns,
            dnsmasq_pid=pid,
            hosts=len(spec.hosts),
            public_address=spec.public.address if spec.public else None,
            generation=spec.generation,
        )

    async def _nat(self, ns: str, spec: RouterSpec, public_if: str) -> None:
        """The router's nftables table, replaced whole in one transaction."""
        d = self._dir(spec.network)
        d.mkdir(parents=True, exist_ok=True)
        guest_if = f"ig{_short(spec.network)}"
        (d / "ruleset.nft").write_text(nft.render(spec, public_if, guest_if))
        await self._ns(ns, "nft", "-f", str(d / "ruleset.nft"))

    async def _addresses(self, ns: str, wanted: dict[str, list[str]], new: bool) -> list[str]:
        """The ``ip`` batch commands that leave exactly ``wanted`` (``a.b.c.d/n``, the
        first the primary) on each device: others, from an earlier spec, removed. A new
        router has none to read."""
        present: dict[str, set[str]] = {dev: set() for dev in wanted}
        if not new:
            out = await self._ns(ns, "ip", "-o", "-4", "addr", "show")
            for line in out.splitlines():
                fields = line.split()
                if len(fields) > 3 and fields[2] == "inet" and fields[1] in present:
                    present[fields[1]].add(fields[3])
        commands = []
        for dev, addresses in wanted.items():
            commands += [f"addr del {a} dev {dev}" for a in sorted(present[dev] - set(addresses))]
            commands += [f"addr add {a} dev {dev}" for a in addresses if a not in present[dev]]
        return commands

    async def _dnsmasq(
        self, ns: str, spec: RouterSpec, guest_if: str, net: ipaddress.IPv4Network
    ) -> int:
        d = self._dir(spec.network)
        d.mkdir(parents=True, exist_ok=True)
        # dnsmasq reads these as the unprivileged user it drops to (again on SIGHUP): the
        # state directory's parents must let it through (the agent's data directory).
        d.chmod(0o755)
        hosts = "".join(f"{h.mac},{h.ip},{h.hostname}\n" for h in spec.hosts)
        names = "".join(f"{h.ip} {h.hostname}.{spec.domain} {h.hostname}\n" for h in spec.hosts)
        for name, text in (("dhcp-hosts", hosts), ("names", names)):
            tmp = d / f".{name}.tmp"
            tmp.write_text(text)
            tmp.chmod(0o644)
            os.replace(tmp, d / name)
        args = [
            "dnsmasq",
            "--conf-file=/dev/null",
            f"--pid-file={d / 'dnsmasq.pid'}",
            f"--dhcp-leasefile={d / 'leases'}",
            f"--dhcp-hostsfile={d / 'dhcp-hosts'}",
            f"--addn-hosts={d / 'names'}",
            f"--interface={guest_if}",
            "--bind-interfaces",
            "--except-interface=lo",
            f"--dhcp-range={net.network_address},static,{net.netmask},12h",
            f"--dhcp-option=option:router,{spec.address}",
            f"--dhcp-option=option:dns-server,{spec.address}",
            *([f"--dhcp-option=option:mtu,{spec.mtu}"] if spec.mtu != 1500 else []),
            f"--domain={spec.domain}",
            f"--local=/{spec.domain}/",
            "--no-resolv",
            "--no-hosts",
            "--no-ping",
            f"--log-facility={d / 'dnsmasq.log'}",
        ]
        # Its options are read once, at start: new ones (a new subnet, address or
        # domain) need a new dnsmasq; new hosts only a SIGHUP.
        digest = hashlib.sha1("\0".join(args).encode()).hexdigest()
        pid = _alive(d / "dnsmasq.pid")
        marker = d / "dnsmasq.args"
        if pid is not None and marker.exists() and marker.read_text() == digest:
            os.kill(pid, signal.SIGHUP)  # re-reads dhcp-hosts and names
            return pid
        if pid is not None:
            await self._stop_dnsmasq(d)
        (d / "dnsmasq.args").write_text(digest)
        await self._ns(ns, *args)
        for _ in range(50):
            pid = _alive(d / "dnsmasq.pid")
            if pid is not None:
                return pid
            await asyncio.sleep(0.05)
        raise NetworkError(f"dnsmasq of network {spec.network} did not start (see {d})")

    async def _metadata(self, ns: str, spec: RouterSpec) -> None:
        """The metadata service: its guests' file rewritten whole (the server reads it
        on each request), the server started if it does not run; stopped when the
        network has none."""
        d = self._dir(spec.network)
        if not spec.metadata:
            await self._stop(d / "metadata.pid", "metadata")
            return
        table = {
            g.ip: {
                "instance-id": g.instance_id,
                "vm-id": g.instance_id,
                "local-hostname": g.hostname,
                "hostname": g.hostname,
                "local-ipv4": g.ip,
                "public-ipv4": g.public_ip,
                "availability-zone": g.zone,
                "public-keys": g.public_keys,
            }
            for g in spec.metadata
        }
        tmp = d / ".metadata.json.tmp"
        tmp.write_text(json.dumps(table))
        os.replace(tmp, d / "metadata.json")
        keep = set(table)
        for stale in (d / "userdata").glob("*") if (d / "userdata").exists() else []:
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
        if _alive(d / "metadata.pid", "metadata") is not None:
            return
        (d / "metadata.ready").unlink(missing_ok=True)
        # Its errors (a failed start) go to its log in the router's directory.
        log = os.open(d / "metadata.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, sys.executable, "-m", "strato.drivers.network.metadata",
            str(d), spec.address, METADATA_IP,
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        os.close(log)
        (d / "metadata.pid").write_text(str(proc.pid))
        for _ in range(100):
            if (d / "metadata.ready").exists():
                return
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        tail = (d / "metadata.log").read_text(errors="replace")[-400:]
        raise NetworkError(
            f"the metadata service of {spec.network} did not start (exit {proc.returncode}): {tail}"
        )

    async def put_user_data(self, data: UserData) -> None:
        """Guests' user data as the metadata service serves it (decoded); ``whole``:
        any other guest's removed."""
        d = self._dir(data.network) / "userdata"
        d.mkdir(parents=True, exist_ok=True)
        for ip, encoded in data.entries.items():
            ipaddress.IPv4Address(ip)  # a file name: an address, never a path
            tmp = d / f".{ip}.tmp"
            tmp.write_bytes(base64.b64decode(encoded))
            os.replace(tmp, d / ip)
        if data.whole:
            for stale in d.iterdir():
                if stale.name not in data.entries:
                    stale.unlink(missing_ok=True)

    async def _stop(self, pidfile: Path, program: str) -> None:
        pid = _alive(pidfile, program)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if _alive(pidfile, program) is None:
                return
            await asyncio.sleep(0.05)

    async def _stop_dnsmasq(self, d: Path) -> None:
        pid = _alive(d / "dnsmasq.pid")
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if _alive(d / "dnsmasq.pid") is None:
                return
            await asyncio.sleep(0.05)

    async def destroy(self, network: str, generation: int = 0) -> None:
        """Everything of the router gone: dnsmasq, its ports, its namespace, its files
        (unless a router newer than ``generation`` was applied). Missing is fine."""
        if generation and self._generation(network) > generation:
            return  # applied again by a newer operation
        ns, h, d = self.namespace(network), _short(network), self._dir(network)
        await self._stop_dnsmasq(d)
        await self._stop(d / "metadata.pid", "metadata")
        for outer in (f"rg{h}", f"rp{h}"):
            with contextlib.suppress(NetworkError):
                await self.ovs.vsctl("--if-exists", "del-port", self.ovs.bridge, outer)
            await self._sh("ip", "link", "del", outer, ok_codes=(0, 1))
        await _exec("ip", "netns", "del", ns, ok_codes=(0, 1))
        shutil.rmtree(d, ignore_errors=True)

    def applied(self) -> list[str]:
        """The networks whose router this host has (from its state directory)."""
        if not self.state_dir.exists():
            return []
        return sorted(
            (d / "network").read_text()
            for d in self.state_dir.iterdir()
            if (d / "network").exists()
        )

    async def status(self, network: str) -> RouterInfo | None:
        ns, d = self.namespace(network), self._dir(network)
        if ns not in (await _exec("ip", "netns", "list")).split():
            return None
        hosts = d / "dhcp-hosts"
        count = len(hosts.read_text().splitlines()) if hosts.exists() else 0
        return RouterInfo(
            network=network,
            namespace=ns,
            dnsmasq_pid=_alive(d / "dnsmasq.pid"),
            hosts=count,
            generation=self._generation(network),
            digest=(d / "digest").read_text() if (d / "digest").exists() else "",
        )
