"""kill -9 of the network agent while a network is being implemented, and of the
orchestrator while a rule is being applied; after a restart the network converges: one
router (one namespace, one dnsmasq, one metadata service), the lease served, the rule on
the router as in the database. Deleted afterwards, nothing of it is left: no namespace,
no process, no port."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from strato.domain.ids import network_queue
from strato.drivers.network.ovs import port_names
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, wait_operation
from tests.netlab import NetLab, netlab, sh
from tests.workflows.test_guest_networks import guest_zone
from tests.workflows.test_vm_crash import agents_only, worker_process
from tests.workflows.vm_helpers import act, deploy

__all__ = ["agents_only", "netlab"]


def _processes(marker: str) -> list[int]:
    """Running processes whose command line names ``marker`` (zombies left out)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != "Z" and b"pytest" not in cmd:
            found.append(int(proc.name))
    return found


def _namespaces(prefix: str) -> list[str]:
    return [ns for ns in sh("ip", "netns", "list").stdout.split() if ns.startswith(prefix)]


async def test_the_network_converges_after_kill9s(
    netlab: NetLab,
    api: httpx.AsyncClient,
    agents_only: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
) -> None:
    orchestrator = worker_process(settings, tmp_path / "orchestrator.log").start()
    fab = await guest_zone(api, hosts=1)
    host = fab["hosts"][0]["name"]
    agents_only.fleet.real_network.add(host)
    while network_queue(host) in agents_only.fleet.tasks:
        await asyncio.sleep(0.1)
    tag = uuid.uuid4().hex[:3]
    prefix, bridge = f"{netlab.prefix}{tag}", f"{netlab.prefix}c{tag}"
    state = netlab.state_dir / f"crash-{tag}"
    args = ["agent", "network", "--host", host, "--state-dir", str(state / "agent")]
    args += ["--ovs-db", netlab.ovs.db, "--ovs-bridge", bridge, "--ovs-netns", netlab.host_ns]
    args += ["--name-prefix", prefix]
    env = {"STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address)}
    agent = ChildProcess(args, env, tmp_path / "agent.log").start()
    try:
        # The agent killed as soon as the router's namespace exists (mid-apply).
        accepted = await deploy(api, fab, network_ids=[fab["network"]["id"]])
        deadline = time.monotonic() + 60
        while not _namespaces(f"{prefix}-r"):
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()
            await asyncio.sleep(0.01)
        agent.kill9()
        agent = ChildProcess(args, env, tmp_path / "agent.log").start()
        op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
        assert op["state"] == "succeeded", op
        assert len(_namespaces(f"{prefix}-r")) == 1
        assert len(_processes(f"--pid-file={state}")) == 1  # one dnsmasq
        assert len(_processes(f"{state}/network/routers")) == 2  # it and one metadata service
        vm_id = accepted["resource"]["id"]
        async with db.conn() as conn:
            nic = await conn.fetchrow(
                "SELECT mac, host(ip_address) AS ip FROM nics WHERE vm_id = $1", uuid.UUID(vm_id)
            )
        guest = netlab.guest(f"k{tag}", port_names(nic["mac"])[1])
        assert netlab.dhcp(guest, tmp_path) == nic["ip"]

        # The orchestrator killed right after a rule change was accepted.
        ip = await ok(
            await api.post(
                "/public-ips",
                json={"zone_id": fab["zone"]["id"], "network_id": fab["network"]["id"]},
            ),
            201,
        )
        r = await api.post(
            f"/public-ips/{ip['id']}/port-forwarding-rules",
            json={"vm_id": vm_id, "protocol": "tcp", "public_start": 2022, "private_start": 22},
        )
        await ok(r, 201)
        orchestrator.kill9()
        orchestrator = worker_process(settings, tmp_path / "orchestrator.log").start()
        op_id = r.headers["Operation-Location"].rsplit("/", 1)[1]
        assert (await wait_operation(api, op_id, timeout=120))["state"] == "succeeded"
        router_ns = _namespaces(f"{prefix}-r")[0]
        ruleset = sh("nft", "list", "ruleset", netns=router_ns).stdout
        assert ip["address"] in ruleset and nic["ip"] in ruleset and "2022" in ruleset, ruleset

        # Deleted: nothing of the network left on the host.
        await act(api, vm_id, "destroy", {"expunge": True})
        gone = await ok(await api.delete(f"/networks/{fab['network']['id']}"), 202)
        assert (await wait_operation(api, gone["operation"]["id"]))["state"] == "succeeded"
        assert _namespaces(f"{prefix}-r") == []
        assert _processes(f"{state}/network") == []  # no dnsmasq, no metadata service
        ports = sh("ovs-vsctl", f"--db={netlab.ovs.db}", "list-ports", bridge, netns=netlab.host_ns)
        assert ports.stdout.split() == [], ports.stdout
    finally:
        agent.stop()
        orchestrator.stop()
        sh("ovs-vsctl", f"--db={netlab.ovs.db}", "--if-exists", "del-br", bridge,
           netns=netlab.host_ns)  # fmt: skip
