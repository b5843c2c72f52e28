"""A real host: the compute agent as its own process next to libvirtd, real QEMU (TCG)
guests booted from the tiny guest, everything driven through the REST API.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both); skipped
with that advice otherwise, and failed instead under STRATO_REQUIRE_LIBVIRT=1.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import TINY_GUEST, ok, unique, wait_operation
from tests.lab import Lab, rfb_banner, wait_console
from tests.workers.agent_helpers import eventually
from tests.workflows.vm_helpers import act, deploy

pytestmark = pytest.mark.system


async def test_real_guest_lifecycle_through_the_api(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab
) -> None:
    accepted = await deploy(api, kvm, name="web1")
    vm_id = accepted["resource"]["id"]
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running" and vm["host_name"] == kvm["host"]
    (dom,) = lab.domains()
    assert dom.UUIDString() == vm_id and dom.isActive()
    root = vm["volumes"][0]
    assert root["path"].startswith(str(lab.dir / "pool"))
    assert await asyncio.to_thread(os.path.exists, root["path"])

    # It really boots: the guest's init prints its marker, and sees its root disk.
    console = vm["console"]
    # Wait for the disks line itself: it follows the boot marker, and a read between the
    # two would miss it.
    log = await wait_console(console["serial_log"], "STRATO-DISKS", timeout=90)
    assert "STRATO-GUEST-BOOTED" in log and "STRATO-DISKS vda" in log
    assert (await rfb_banner(console["host"], console["port"])).startswith(b"RFB 003.")

    await act(api, vm_id, "stop", {"timeout_s": 30})
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Stopped" and vm["console"] is None
    assert lab.domains() == []  # a stopped VM keeps no domain

    await act(api, vm_id, "start")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running"
    await wait_console(vm["console"]["serial_log"], "STRATO-GUEST-BOOTED", timeout=90)

    await act(api, vm_id, "reboot")
    await wait_console(vm["console"]["serial_log"], "STRATO-GUEST-BOOTED", count=2, timeout=90)
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Running"

    await act(api, vm_id, "destroy", {"expunge": True})
    vm = await eventually(lambda: _state(api, vm_id, "Expunged"), timeout=60, what="Expunged")
    assert lab.domains() == []
    assert list((lab.dir / "pool").glob("*.qcow2")) == []  # the root volume is gone too
    assert not list((lab.dir / "console").glob("*.log"))


async def _state(api: httpx.AsyncClient, vm_id: str, state: str) -> Any:
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    return vm if vm["state"] == state else None


async def test_unbootable_template_fails_cleanly(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, db: Database
) -> None:
    missing = f"no-kernel-{lab.prefix}"  # under the image roots, but not there
    tpl = await ok(
        await api.post(
            "/templates",
            json={"name": unique("broken"), "boot": {"kernel": str(TINY_GUEST.parent / missing)}},
        ),
        201,
    )
    accepted = await deploy(api, kvm, template_id=tpl["id"])
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "failed"
    vm = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    assert vm["state"] == "Error"
    assert f"{missing} does not exist on this host" in vm["last_error"]
    assert lab.domains() == []  # no half-defined domain
    assert list((lab.dir / "pool").glob("*.qcow2")) == []
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM host_claims") == 0


async def test_killed_agent_during_start_the_deploy_still_finishes(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, db: Database
) -> None:
    accepted = await deploy(api, kvm)
    vm_id = accepted["resource"]["id"]
    # Kill the agent as soon as the domain is defined: the start is next or under way.
    await eventually(lambda: _defined(lab), timeout=60, what="domain defined")
    kvm["agent"].kill9()
    await asyncio.sleep(1)
    kvm["agent"].start()
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running"
    # The database matches libvirt: one domain, running, one claim on that host.
    (dom,) = lab.domains()
    assert dom.UUIDString() == vm_id and dom.isActive()
    async with db.conn() as conn:
        claims = await conn.fetch("SELECT host_id FROM host_claims")
    assert [str(c["host_id"]) for c in claims] == [vm["host_id"]]
    await wait_console(vm["console"]["serial_log"], "STRATO-GUEST-BOOTED", timeout=90)


async def _defined(lab: Lab) -> bool:
    return bool(await asyncio.to_thread(lab.domains))


async def test_virsh_destroy_is_noticed_and_corrected(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, db: Database
) -> None:
    accepted = await deploy(api, kvm)
    vm_id = accepted["resource"]["id"]
    assert (await wait_operation(api, accepted["operation"]["id"], 120))["state"] == "succeeded"
    (dom,) = lab.domains()
    subprocess.run(
        ["virsh", "-c", "qemu:///system", "destroy", dom.name()], check=True, capture_output=True
    )
    vm = await eventually(lambda: _state(api, vm_id, "Stopped"), timeout=30, what="corrected")
    assert vm["host_id"] is None
    async with db.conn() as conn:
        drift = await conn.fetch("SELECT * FROM events WHERE type = 'strato.vm.drift'")
    assert len(drift) == 1 and str(drift[0]["resource_id"]) == vm_id
    assert drift[0]["payload"]["host"] == kvm["host"]
    assert drift[0]["payload"]["observed"] == "stopped"


async def test_a_killed_agents_guest_is_fenced_when_the_agent_returns(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, db: Database
) -> None:
    """kill -9 of the agent while its guest runs: the host goes Alert, the orchestrator's
    probe finds no agent (twice), Down: the VM is Stopped and fenced, though QEMU still
    runs it (out of reach until the agent returns). The agent returns and destroys the
    domain before its host is Up: the VM runs nowhere, as recorded."""
    accepted = await deploy(api, kvm)
    vm_id = accepted["resource"]["id"]
    assert (await wait_operation(api, accepted["operation"]["id"], 120))["state"] == "succeeded"

    async def busy() -> Any:  # the booting guest's CPU use, from the agent's heartbeats
        r = await api.get(f"/vms/{vm_id}/stats")
        return r.json() if r.status_code == 200 and (r.json()["cpu_percent"] or 0) > 0 else None

    usage = await eventually(busy, timeout=30, what="the guest's CPU use sampled")
    assert usage["memory_mb"] > 0 and usage["vcpus"] == 1
    kvm["agent"].kill9()

    async def host_is(status: str) -> Any:
        page = await ok(await api.get("/hosts", params={"name": kvm["host"]}))
        host = page["items"][0]
        return host if host["status"] == status else None

    host = await eventually(lambda: host_is("Down"), timeout=60, what="Down")
    assert "did not answer orchestrator" in host["last_error"]
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert (vm["state"], vm["host_id"]) == ("Stopped", None)
    (dom,) = lab.domains()
    assert dom.UUIDString() == vm_id and dom.isActive()  # the guest still runs

    kvm["agent"].start()
    await eventually(lambda: host_is("Up"), timeout=60, what="Up after the agent returned")
    assert lab.domains() == []
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Stopped"
    async with db.conn() as conn:
        kinds = [
            r["type"]
            for r in await conn.fetch(
                """SELECT type FROM events WHERE type IN
                   ('strato.vm.fenced', 'strato.host.fences_cleared') ORDER BY seq"""
            )
        ]
    assert kinds == ["strato.vm.fenced", "strato.host.fences_cleared"]
