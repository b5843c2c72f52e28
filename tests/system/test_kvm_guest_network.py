"""A real TCG guest on an isolated network, plugged by Strato: the host's network agent
(on a private Open vSwitch it starts in the root namespace, where QEMU runs) makes a tap
for the VM's NIC on the network's VLAN; libvirt hands the tap to QEMU; the guest's DHCP
client gets its IPAM address from the network's router, and a namespace on the same
network pings it. Stopping the VM takes the tap away; the agent's clean stop leaves no
switch, router namespace or port behind."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx

from strato.domain.network.specs import PortSpec
from strato.drivers.network.ovs import OvsElement, tap_name
from strato.drivers.network.ovs_daemon import available
from strato.schema.db import Database
from strato.settings import Settings
from tests.lab import wait_console
from tests.netlab import sh
from tests.system.conftest import network_agent
from tests.workflows.test_guest_networks import networking, running_on
from tests.workflows.vm_helpers import act


async def test_a_real_guest_gets_its_lease_from_strato(
    api: httpx.AsyncClient, kvm: dict[str, Any], settings: Settings, db: Database
) -> None:
    assert available() is None, available()
    fab = await networking(api, kvm)
    probe = None
    try:
        async with network_agent(settings, kvm["host"]) as agent:
            prefix = agent.prefix
            vm = await running_on(api, fab, fab["network"]["id"])
            async with db.conn() as conn:
                nic = await conn.fetchrow(
                    "SELECT mac, host(ip_address) AS ip FROM nics WHERE vm_id = $1",
                    uuid.UUID(vm["id"]),
                )
            tap = tap_name(nic["mac"])
            assert agent.private is not None
            ports = sh("ovs-vsctl", f"--db={agent.private.db}", "list-ports", agent.bridge).stdout
            assert tap in ports.split(), ports
            log = await wait_console(vm["console"]["serial_log"], "STRATO-LEASE", timeout=120)
            lease = re.search(r"STRATO-LEASE (\S+) (\S+)", log)
            assert lease is not None and lease.group(2) == nic["ip"], log

            # A namespace on the same network (a port of the agent's switch) reaches it.
            ovs = OvsElement("probe", db=agent.private.db, bridge=agent.bridge)
            port = await ovs.plug(PortSpec(network=fab["network"]["id"], mac="02:ab:cd:00:00:01"))
            probe = f"{prefix}-probe"
            sh("ip", "netns", "add", probe)
            sh("ip", "link", "set", port.device, "netns", probe)
            sh("ip", "addr", "add", "10.77.0.200/24", "dev", port.device, netns=probe)
            sh("ip", "link", "set", port.device, "up", netns=probe)
            deadline = asyncio.get_running_loop().time() + 20
            while sh("ping", "-c", "1", "-W", "1", nic["ip"], netns=probe, check=False).returncode:
                assert asyncio.get_running_loop().time() < deadline, f"{nic['ip']} never answered"

            # Stopped: the tap goes with the port (the lease stays the VM's).
            await act(api, vm["id"], "stop")
            assert sh("ip", "link", "show", tap, check=False).returncode != 0
            ports = sh("ovs-vsctl", f"--db={agent.private.db}", "list-ports", agent.bridge).stdout
            assert tap not in ports.split(), ports
    finally:
        if probe is not None:
            sh("ip", "netns", "del", probe, check=False)
    # The agent's clean stop: no router namespace, no switch, no port left.
    assert not [ns for ns in sh("ip", "netns", "list").stdout.split() if ns.startswith(prefix)]
    assert sh("ip", "link", "show", f"{prefix}br", check=False).returncode != 0
    assert sh("ip", "link", "show", tap, check=False).returncode != 0
