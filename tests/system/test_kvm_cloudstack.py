"""The CloudStack-compatible API on a real host: deploy, stop, start and destroy a real
QEMU guest through ``/client/api`` with a signed CloudStack request, as any CloudStack
client would, and see the libvirt domain follow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ok
from tests.lab import Lab, wait_console
from tests.services.cloudstack_api import conftest as cs_fixtures
from tests.services.cloudstack_api.conftest import CsCloud

pytestmark = pytest.mark.system

cs_cloud = cs_fixtures.cs_cloud


async def test_cloudstack_api_drives_a_real_guest(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, cs_cloud: CsCloud
) -> None:
    account, _, alice = await cs_cloud.account()
    started = await alice(
        "deployVirtualMachine",
        zoneid=kvm["zone"]["id"],
        serviceofferingid=kvm["offering"]["id"],
        templateid=kvm["template"]["id"],
        name="cs-web",
    )
    job = await alice.wait(started["jobid"], timeout=180)
    assert job["jobstatus"] == 1, job
    vm = job["jobresult"]["virtualmachine"]
    assert vm["state"] == "Running" and vm["hypervisor"] == "KVM"
    assert vm["account"] == account["name"] and vm["hostname"] == kvm["host"]
    (dom,) = lab.domains()
    assert dom.UUIDString() == vm["id"] and dom.isActive()
    detail = await ok(await api.get(f"/vms/{vm['id']}"))
    await wait_console(detail["console"]["serial_log"], "STRATO-GUEST-BOOTED", timeout=90)

    stopped = await alice.wait((await alice("stopVirtualMachine", id=vm["id"]))["jobid"])
    assert stopped["jobresult"]["virtualmachine"]["state"] == "Stopped", stopped
    assert lab.domains() == []
    again = await alice.wait((await alice("startVirtualMachine", id=vm["id"]))["jobid"], 180)
    assert again["jobresult"]["virtualmachine"]["state"] == "Running", again
    (dom,) = lab.domains()
    assert dom.isActive()

    gone = await alice.wait(
        (await alice("destroyVirtualMachine", id=vm["id"], expunge="true"))["jobid"], 120
    )
    assert gone["jobstatus"] == 1, gone
    assert lab.domains() == []
    assert await alice("listVirtualMachines", id=vm["id"]) == {}
