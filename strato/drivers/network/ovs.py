"""The Open vSwitch network element: one integration bridge per host (userspace datapath,
``datapath_type=netdev``), each guest network a VLAN tag on it (its segment), each port a
veth pair whose host side is an OVS port with the network's tag and Strato's
``external_ids`` (``strato-mac``, ``strato-network``, ``strato-vm``) and whose guest side
is handed to the guest (a namespace, or a tap's peer).

A network implemented here is recorded on the bridge (``external_ids:strato-net-<name>
=<tag>``), so the element keeps no state of its own: it reads the switch. Everything goes
through ``ovs-vsctl`` on the OVS database socket and ``ip`` (inside ``netns`` when the
switch runs in a namespace, as in tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from strato.domain.network.specs import NetworkSpec, PortInfo, PortSpec
from strato.drivers.network import netdev, ovs_firewall
from strato.drivers.network.base import (
    NetworkElement,
    NetworkError,
    NetworkMissing,
    SegmentInvalid,
)


def in_netns(netns: str | None, args: tuple[str, ...]) -> list[str]:
    """``args`` run in ``netns`` with as few processes as it takes: ``ip -n`` for ``ip``;
    nothing for the OVS tools (they reach the switch by its sockets' paths)."""
    if netns is None or args[0] in ("ovs-vsctl", "ovs-ofctl"):
        return list(args)
    if args[0] == "ip":
        return ["ip", "-n", netns, *args[1:]]
    return ["ip", "netns", "exec", netns, *args]


def port_names(mac: str) -> tuple[str, str]:
    """The veth pair of a port: (OVS side, guest side), 14 characters each."""
    hexmac = mac.replace(":", "").lower()
    if len(hexmac) != 12 or any(c not in "0123456789abcdef" for c in hexmac):
        raise NetworkError(f"{mac!r} is not a MAC address")
    return f"so{hexmac}", f"sg{hexmac}"


def tap_name(mac: str) -> str:
    """A VM's port: a tap device, 14 characters."""
    return f"st{port_names(mac)[0][2:]}"


def _vni(spec: NetworkSpec) -> int:
    try:
        vni = int(str(spec.segment))
    except ValueError as err:
        raise SegmentInvalid(f"segment {spec.segment!r} is not a VXLAN VNI") from err
    if not 1 <= vni < 1 << 24:
        raise SegmentInvalid(f"segment {vni} is not a VXLAN VNI (1-16777215)")
    return vni


def tunnel_name(vni: int, peer: str) -> str:
    """A VXLAN tunnel port: the network's VNI and the peer host (28 bits of its address's
    hash), 15 characters."""
    return f"vx{vni:06x}{hashlib.sha1(peer.encode()).hexdigest()[:7]}"


def _tag(spec: NetworkSpec) -> int:
    """The VLAN tag of a network (0: untagged, a shared network without a segment)."""
    if spec.segment in (None, ""):
        return 0
    try:
        tag = int(str(spec.segment))
    except ValueError as err:
        raise SegmentInvalid(f"segment {spec.segment!r} is not a VLAN id") from err
    if not 1 <= tag <= 4094:
        raise SegmentInvalid(f"segment {tag} is not a VLAN id (1-4094)")
    return tag


class OvsElement(NetworkElement):
    name = "ovs"
    capabilities: ClassVar[Mapping[str, bool]] = {
        "switching": True,
        "vlan": True,
        "vxlan": True,
        "security_groups": True,
    }

    def __init__(
        self,
        host_name: str,
        *,
        db: str = "unix:/var/run/openvswitch/db.sock",
        bridge: str = "br-strato",
        netns: str | None = None,
    ) -> None:
        self.host_name = host_name
        self.db = db
        self.bridge = bridge
        self.netns = netns
        self._tags = asyncio.Lock()
        self._bridge_ready = False

    async def run(
        self, *args: str, ok_codes: tuple[int, ...] = (0,), stdin: str | None = None
    ) -> str:
        cmd = in_netns(self.netns, args)
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        if proc.returncode not in ok_codes:
            raise NetworkError(f"{' '.join(args[:3])}: {err.decode(errors='replace').strip()}")
        return out.decode()

    async def vsctl(self, *args: str) -> str:
        try:
            return await self.run("ovs-vsctl", f"--db={self.db}", "--timeout=10", *args)
        except NetworkError:
            self._bridge_ready = False  # the bridge may be what went
            raise

    async def _network_tag(self, network: str) -> int:
        """The network's tag on this host's bridge, in one call (a missing bridge or key
        answers nothing)."""
        out = await self.vsctl(
            "--if-exists", "get", "Bridge", self.bridge, f"external_ids:strato-net-{network}"
        )
        value = out.strip().strip('"')
        if not value:
            raise NetworkMissing(f"network {network} is not implemented on {self.host_name}")
        return int(value)

    async def ensure_bridge(self) -> None:
        """The integration bridge, on the userspace datapath (the only one here); made or
        checked once per element (a failed switch command checks it again)."""
        if self._bridge_ready:
            return
        await self.vsctl(
            "--may-exist",
            "add-br",
            self.bridge,
            "--",
            "set",
            "Bridge",
            self.bridge,
            "datapath_type=netdev",
        )
        self._bridge_ready = True

    async def implement_network(self, spec: NetworkSpec) -> None:
        """One network at a time on this bridge: tags are chosen and checked against the
        others (two networks with one tag would reach each other)."""
        async with self._tags:
            await self.ensure_bridge()
            ids = await self._bridge_ids()
            if spec.generation and _applied(ids, spec.name) > spec.generation:
                return  # a newer spec of the network was applied here
            await self._implement(spec, ids)
            if spec.generation:
                await self.vsctl(
                    "br-set-external-id",
                    self.bridge,
                    f"strato-gen-{spec.name}",
                    str(spec.generation),
                )

    async def tag_of(self, network: str) -> int:
        return await self._network_tag(network)

    async def _implement(self, spec: NetworkSpec, ids: dict[str, str]) -> None:
        if spec.isolation == "VXLAN":
            await self._implement_vxlan(spec)
            return
        tag = _tag(spec)
        if tag:
            for key, value in ids.items():
                other = key.removeprefix("strato-net-")
                if key.startswith("strato-net-") and other != spec.name and value == str(tag):
                    raise SegmentInvalid(
                        f"tag {tag} is network {other}'s on {self.host_name} already"
                    )
        await self.vsctl("br-set-external-id", self.bridge, f"strato-net-{spec.name}", str(tag))

    async def _implement_vxlan(self, spec: NetworkSpec) -> None:
        """A VXLAN network: a VLAN tag of this bridge only (the highest free one: VLAN
        networks use their segment id as their tag, from the bottom of the range) for
        its ports here, and one tunnel per peer host carrying that tag as the VNI.
        Tunnels to hosts no longer listed are removed."""
        vni = _vni(spec)
        mine = await self.vsctl("br-get-external-id", self.bridge, f"strato-net-{spec.name}")
        if mine.strip():
            tag = int(mine.strip())
        else:
            taken = {
                int(v) for k, v in (await self._bridge_ids()).items() if k.startswith("strato-net-")
            }
            free = [t for t in range(4094, 0, -1) if t not in taken]
            if not free:
                raise NetworkError(f"{self.host_name} has no VLAN tag left for {spec.name}")
            tag = free[0]
            await self.vsctl("br-set-external-id", self.bridge, f"strato-net-{spec.name}", str(tag))
        wanted = {tunnel_name(vni, peer): peer for peer in spec.peers}
        for name in set(await self._tunnels(spec.name)) - set(wanted):
            await self.vsctl("--if-exists", "del-port", self.bridge, name)
        for name, peer in sorted(wanted.items()):
            await self.vsctl(
                "--may-exist",
                "add-port",
                self.bridge,
                name,
                f"tag={tag}",
                "--",
                "set",
                "Interface",
                name,
                "type=vxlan",
                f"options:remote_ip={peer}",
                f"options:key={vni}",
                "--",
                "set",
                "Port",
                name,
                f"external_ids:strato-tunnel={spec.name}",
            )

    async def _bridge_ids(self) -> dict[str, str]:
        out = await self.vsctl("br-get-external-id", self.bridge)
        pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
        return {k: v for k, v in pairs}

    async def _tunnels(self, network: str) -> list[str]:
        out = await self.vsctl(
            "--format=json",
            "--columns=name",
            "find",
            "Port",
            f"external_ids:strato-tunnel={network}",
        )
        return [row[0] for row in json.loads(out or '{"data": []}')["data"]]

    async def _bridge_exists(self) -> bool:
        try:
            await self.vsctl("br-exists", self.bridge)
        except NetworkError:
            return False
        return True

    async def shutdown_network(self, name: str, generation: int = 0) -> None:
        """Under the lock ``implement_network`` holds: a newer operation's implement
        waits until this is done (then implements again), or was done before the check
        (then this changes nothing)."""
        async with self._tags:
            if not await self._bridge_exists():
                return
            if generation and _applied(await self._bridge_ids(), name) > generation:
                return  # implemented again by a newer operation
            for port in await self.list_ports(name):
                await self.unplug(name, port.mac)
            for tunnel in await self._tunnels(name):
                await self.vsctl("--if-exists", "del-port", self.bridge, tunnel)
            await self.vsctl("br-set-external-id", self.bridge, f"strato-net-{name}")
            await self.vsctl("br-set-external-id", self.bridge, f"strato-gen-{name}")

    async def plug(self, port: PortSpec) -> PortInfo:
        """Every part converges on each call (a retry, a host rebooted since: OVS keeps
        its records, the devices do not survive): the device, its MAC, its offloads,
        the bridge port and its settings."""
        tag = await self._network_tag(port.network)
        if port.kind == "tap":
            host = guest = tap_name(port.mac)
            await self._tap(host)
        else:
            host, guest = port_names(port.mac)
            await self._veth(host, guest, port.mac)
        settings = [
            f"external_ids:strato-mac={port.mac}",
            f"external_ids:strato-network={port.network}",
            f"external_ids:strato-vm={port.vm_name or '-'}",
            f"tag={tag}" if tag else "tag=[]",
        ]
        await self.vsctl(
            "--may-exist", "add-port", self.bridge, host, "--", "set", "Port", host, *settings
        )
        if port.security is not None:
            await self.secure(port, host, tag)
        return PortInfo(network=port.network, mac=port.mac, device=guest)

    def _mgmt(self) -> str:
        """The bridge's OpenFlow socket, beside the database's."""
        rundir = self.db.removeprefix("unix:").rsplit("/", 1)[0]
        return f"unix:{rundir}/{self.bridge}.mgmt"

    async def secure(self, port: PortSpec, name: str, zone: int) -> None:
        """The port's security groups as OpenFlow rules (:mod:`ovs_firewall`), replaced
        whole in one bundle; none: its rules removed (the port is open)."""
        flows: list[str] = []
        if port.security is not None:
            ofport = 0
            for _ in range(50):
                out = await self.vsctl("get", "Interface", name, "ofport")
                ofport = int(out.strip() or 0)
                if ofport > 0:
                    break
                await asyncio.sleep(0.05)
            if ofport <= 0:
                raise NetworkError(f"port {name} has no OpenFlow port number")
            flows = [
                *ovs_firewall.base_flows(),
                *ovs_firewall.port_flows(ofport, port.mac, zone, port.security),
            ]
        await self.run(
            "ovs-ofctl", "-O", "OpenFlow14", "--bundle", "add-flows", self._mgmt(), "-",
            stdin=ovs_firewall.bundle(port.mac, flows),
        )  # fmt: skip

    async def _tap(self, name: str) -> None:
        """A persistent tap a hypervisor opens by name (libvirt ``type='ethernet'``)."""
        if not await netdev.existing(self.netns, [name]):
            await self.run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        await self.run("ip", "link", "set", name, "up")

    async def _veth(self, host: str, guest: str, mac: str) -> None:
        here = await netdev.existing(self.netns, [host, guest])
        if host not in here:
            # The pair, the guest side with the port's MAC (the address DHCP and IPAM
            # know it by).
            await self.run(
                "ip", "link", "add", host, "up", "type", "veth", "peer", "name", guest,
                "address", mac,
            )  # fmt: skip
        else:  # converge what a half-made plug may have left
            commands = [f"link set {guest} address {mac}"] if guest in here else []
            commands.append(f"link set {host} up")
            await self.run("ip", "-batch", "-", stdin="".join(f"{c}\n" for c in commands))
        # Checksums done in software on both sides (the userspace datapath and veth need
        # it for TCP and DHCP); the guest side only while it is still here.
        sides = [host, guest] if host not in here or guest in here else [host]
        await netdev.tx_checksum_off(self.netns, sides)

    async def unplug(self, network: str, mac: str) -> None:
        if await self._bridge_exists():
            await self.run(
                "ovs-ofctl", "-O", "OpenFlow14", "--bundle", "add-flows", self._mgmt(), "-",
                stdin=ovs_firewall.bundle(mac, []),
            )  # fmt: skip
        for name in (port_names(mac)[0], tap_name(mac)):
            await self.vsctl("--if-exists", "del-port", self.bridge, name)
            await self.run("ip", "link", "del", name, ok_codes=(0, 1))

    async def remove_ports(self) -> None:
        """Every port device Strato made on this bridge deleted (a private switch being
        stopped: its ports would outlive it as kernel devices)."""
        out = await self.vsctl("--format=json", "--columns=name,external_ids", "find", "Port")
        for name, ids in json.loads(out or '{"data": []}')["data"]:
            if "strato-mac" not in _ovs_map(ids):
                continue
            await self.vsctl("--if-exists", "del-port", self.bridge, name)
            await self.run("ip", "link", "del", name, ok_codes=(0, 1))

    async def list_ports(self, network: str) -> list[PortInfo]:
        out = await self.vsctl(
            "--format=json",
            "--columns=name,external_ids",
            "find",
            "Port",
            f"external_ids:strato-network={network}",
        )
        ports = []
        for name, ids in json.loads(out or '{"data": []}')["data"]:
            mac = _ovs_map(ids).get("strato-mac", "")
            device = name if name == tap_name(mac) else port_names(mac)[1]
            ports.append(PortInfo(network=network, mac=mac, device=device))
        return sorted(ports, key=lambda p: p.mac)


def _applied(bridge_ids: dict[str, str], network: str) -> int:
    """The generation of the network's spec last applied on this bridge (0: none)."""
    return int(bridge_ids.get(f"strato-gen-{network}", "0").strip('"') or 0)


def _ovs_map(value: Any) -> dict[str, str]:
    """An OVSDB map as ovs-vsctl's JSON gives it: ["map", [[k, v], ...]]."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {str(k): str(v) for k, v in value[1]}
    return {}
