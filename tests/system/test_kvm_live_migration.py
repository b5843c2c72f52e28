"""Live migration of a real guest between two libvirt hosts on this machine (two private
libvirt daemons with distinct host UUIDs in their own namespaces, QEMU's stream crossing
a veth pair between them: ``tests/libvirt_pair.py``), each served by its own compute agent
process: the VM moves while it runs, there and back; each time the domain runs on the
target only (libvirt says it arrived by migration), the database and the heartbeats agree
(it stays Running where it went), and the doctor finds nothing.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import libvirt
import pytest

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, wait_operation
from tests.lab import GUEST_CMDLINE, Lab
from tests.libvirt_pair import Daemon, libvirt_pair
from tests.system.conftest import agent_process, booted_vm
from tests.workers.agent_helpers import eventually, kvm_zone

__all__ = ["libvirt_pair"]

pytestmark = pytest.mark.system


def _where(pair: tuple[Daemon, Daemon], name: str) -> dict[str, tuple[int, int]]:
    """The daemons the domain is defined on: its (state, reason) on each."""
    out = {}
    for d in pair:
        conn = libvirt.open(d.uri)
        try:
            for dom in conn.listAllDomains(0):
                if dom.name() == name:
                    state, reason = dom.state()
                    out[d.name] = (state, reason)
        finally:
            conn.close()
    return out


async def test_a_running_guest_moves_live_between_two_hosts_and_back(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    lab: Lab,
    agents: list[ChildProcess],
    libvirt_pair: tuple[Daemon, Daemon],
) -> None:
    boot = {"kernel": lab.kernel, "initrd": lab.initrd, "cmdline": GUEST_CMDLINE}
    fab = await kvm_zone(api, lab.dir / "pool", boot=boot)
    hosts = {d.name: lab.host(n) for n, d in enumerate(libvirt_pair, 1)}
    for d in libvirt_pair:
        agents.append(agent_process(settings, lab, fab, hosts[d.name], libvirt_uri=d.uri).start())

    async def up() -> bool:
        page = await ok(await api.get("/hosts", params={"zone_id": fab["zone"]["id"]}))
        return sum(h["status"] == "Up" for h in page["items"]) == 2

    await eventually(up, timeout=60, what="both hosts Up")
    vm = await booted_vm(api, fab)
    vm_id = vm["id"]
    name = f"strato-{vm_id}"
    by_host = {v: k for k, v in hosts.items()}

    for _ in range(2):  # there, and back
        source = by_host[vm["host_name"]]
        target = "b" if source == "a" else "a"
        r = await api.post(f"/vms/{vm_id}/migrate", json={"live": True})
        op = await wait_operation(api, (await ok(r, 202))["operation"]["id"], timeout=180)
        assert op["state"] == "succeeded", op
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert (vm["state"], vm["host_name"]) == ("Running", hosts[target])
        where = await asyncio.to_thread(_where, libvirt_pair, name)
        assert where == {
            target: (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_MIGRATED)
        }, where
        await asyncio.sleep(3)  # heartbeats from both agents: nothing corrected
        vm = await ok(await api.get(f"/vms/{vm_id}"))
        assert (vm["state"], vm["host_name"]) == ("Running", hosts[target])
        events = await _drift(db, vm_id)
        assert events == 0

    report = await examine(db, platform.client, queue=settings.orchestration_queue)
    assert report.findings == [], report.findings


async def _drift(db: Database, vm_id: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'strato.vm.drift' AND resource_id = $1",
            vm_id,
        )
