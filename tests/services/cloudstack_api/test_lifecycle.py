"""The commands the client scenarios do not reach, each through /client/api against the
real command layer: the rest of a VM's lifecycle (scale, update, key reset, migrate,
recover, expunge), volume resize, static NAT, network restart, VM snapshots, templates
and ISOs, events, the admin's infrastructure lists, XML errors."""

from __future__ import annotations

from typing import Any

from strato.services.acl import rules
from tests.conftest import Platform
from tests.helpers import ok, unique
from tests.services.cloudstack_api.conftest import CsClient, CsCloud
from tests.workflows.test_guest_networks import guest_zone


async def _done(client: CsClient, started: dict[str, Any]) -> dict[str, Any]:
    job = await client.wait(started["jobid"])
    assert job["jobstatus"] == 1, job
    return dict(job["jobresult"])


async def test_the_rest_of_the_lifecycle(platform: Platform, cs_cloud: CsCloud) -> None:
    fab = await guest_zone(cs_cloud.acl.admin, hosts=2)
    zone = fab["zone"]["id"]
    offering = {"name": unique("big"), "cpu_count": 2, "cpu_speed_mhz": 1000, "memory_mb": 2048}
    big = await ok(await cs_cloud.acl.admin.post("/service-offerings", json=offering), 201)
    account, _, alice = await cs_cloud.account()
    _, _, root = await cs_cloud.account(role=rules.ROOT_ADMIN)
    isolated = "00000000-0000-4000-8000-00000000a001"  # the built-in isolated offering
    net = (await alice("createNetwork", name="life", zoneid=zone, networkofferingid=isolated))[
        "network"
    ]
    await alice("createSSHKeyPair", name="k1")
    await alice("createSSHKeyPair", name="k2")
    vm = (await _done(alice, await alice(
        "deployVirtualMachine", zoneid=zone, serviceofferingid=fab["offering"]["id"],
        templateid=fab["template"]["id"], networkids=net["id"], keypair="k1", name="life1",
    )))["virtualmachine"]  # fmt: skip

    # update (sync), scale while stopped (changeService, sync), reset its keys (async)
    shown = await alice("updateVirtualMachine", id=vm["id"], displayname="Life One")
    assert shown["virtualmachine"]["displayname"] == "Life One"
    await _done(alice, await alice("stopVirtualMachine", id=vm["id"]))
    changed = await alice("changeServiceForVirtualMachine", id=vm["id"],
                          serviceofferingid=big["id"])  # fmt: skip
    assert changed["virtualmachine"]["cpunumber"] == 2
    assert changed["virtualmachine"]["serviceofferingid"] == big["id"]
    reset = await _done(alice, await alice("resetSSHKeyForVirtualMachine", id=vm["id"],
                                           keypairs="k1,k2"))  # fmt: skip
    assert reset["virtualmachine"]["keypairs"] == "k1,k2"
    await _done(alice, await alice("startVirtualMachine", id=vm["id"]))

    # a VM snapshot and its revert; the root volume resized; static NAT on and off
    snap = (await _done(alice, await alice("createVMSnapshot", virtualmachineid=vm["id"],
                                           snapshotmemory="true")))["vmsnapshot"]  # fmt: skip
    listed = await alice("listVMSnapshot", virtualmachineid=vm["id"])
    assert listed["vmSnapshot"][0]["id"] == snap["id"] and snap["type"] == "DiskAndMemory"
    reverted = await _done(alice, await alice("revertToVMSnapshot", vmsnapshotid=snap["id"]))
    assert reverted["virtualmachine"]["id"] == vm["id"]
    assert await _done(alice, await alice("deleteVMSnapshot", vmsnapshotid=snap["id"])) == {
        "success": True}  # fmt: skip
    root_vol = (await alice("listVolumes", virtualmachineid=vm["id"], type="ROOT"))["volume"][0]
    await _done(alice, await alice("stopVirtualMachine", id=vm["id"]))
    grown = await _done(alice, await alice("resizeVolume", id=root_vol["id"], size=20))
    assert grown["volume"]["size"] == 20 << 30
    await _done(alice, await alice("startVirtualMachine", id=vm["id"]))
    ip = (await _done(alice, await alice("associateIpAddress", networkid=net["id"])))["ipaddress"]
    assert await alice("enableStaticNat", ipaddressid=ip["id"], virtualmachineid=vm["id"]) == {
        "success": "true"}  # fmt: skip
    nat = await alice("listIpForwardingRules", virtualmachineid=vm["id"])
    assert nat["ipforwardingrule"][0]["ipaddress"] == ip["ipaddress"]
    listed_vm = (await alice("listVirtualMachines", id=vm["id"]))["virtualmachine"][0]
    assert listed_vm["publicip"] == ip["ipaddress"]
    await _done(alice, await alice("disableStaticNat", ipaddressid=ip["id"]))
    assert await alice("listIpForwardingRules") == {}
    await _done(alice, await alice("restartNetwork", id=net["id"]))

    # the admin moves it to the other host, sees the hosts; the account cannot
    hosts = (await root("listHosts", zoneid=zone))["host"]
    other = next(h for h in hosts if h["id"] != listed_vm["hostid"])
    assert {h["state"] for h in hosts} == {"Up"} and hosts[0]["type"] == "Routing"
    moved = await _done(root, await root("migrateVirtualMachine", virtualmachineid=vm["id"],
                                         hostid=other["id"]))  # fmt: skip
    assert moved["virtualmachine"]["hostid"] == other["id"]
    code, _ = await alice.error("migrateVirtualMachine", virtualmachineid=vm["id"])
    assert code in (431, 531)

    # destroy, recover (sync: Stopped), destroy again, expunge; its events were listed
    await _done(alice, await alice("destroyVirtualMachine", id=vm["id"]))
    assert (await alice("listVirtualMachines", id=vm["id"]))["virtualmachine"][0][
        "state"] == "Destroyed"  # fmt: skip
    back = await alice("recoverVirtualMachine", id=vm["id"])
    assert back["virtualmachine"]["state"] == "Stopped"
    await _done(alice, await alice("destroyVirtualMachine", id=vm["id"]))
    assert await _done(alice, await alice("expungeVirtualMachine", id=vm["id"])) == {
        "success": True}  # fmt: skip
    assert await alice("listVirtualMachines", id=vm["id"]) == {}
    events = await alice("listEvents", resourceid=vm["id"])
    assert events["count"] >= 5 and all(e["account"] == account["name"] for e in events["event"])


async def test_templates_isos_and_the_catalog(cs_cloud: CsCloud) -> None:
    _, _, root = await cs_cloud.account(role=rules.ROOT_ADMIN)
    _, _, alice = await cs_cloud.account()
    ostype = (await root("listOsTypes", description="Debian GNU/Linux 12 (64-bit)"))["ostype"][0]
    made = await root("registerTemplate", name="deb12", displaytext="Debian 12", format="QCOW2",
                      url="/var/lib/images/deb12.qcow2", ostypeid=ostype["id"], zoneid="-1",
                      ispublic="true", isfeatured="true", hypervisor="KVM")  # fmt: skip
    (tpl,) = made["template"]
    assert tpl["isready"] is True and tpl["ostypename"] == "Debian GNU/Linux 12 (64-bit)"
    assert tpl["crossZones"] is True and tpl["format"] == "QCOW2"
    featured = await alice("listTemplates", templatefilter="featured", name="deb12")
    assert featured["count"] == 1 and featured["template"][0]["id"] == tpl["id"]
    assert await alice("listTemplates", templatefilter="self") == {}
    code, _ = await alice.error("registerTemplate", name="mine", format="QCOW2", url="/x.qcow2")
    assert code == 531  # accounts register no templates
    iso = (await root("registerIso", name="rescue", url="/var/lib/images/rescue.iso",
                      ispublic="true"))["iso"][0]  # fmt: skip
    assert iso["bootable"] is True
    assert [i["id"] for i in (await alice("listIsos", isofilter="executable"))["iso"]] == [
        iso["id"]
    ]
    assert "iso" not in str(
        await alice("listTemplates", templatefilter="executable", name="rescue")
    )
    assert await _done(root, await root("deleteTemplate", id=tpl["id"])) == {"success": True}
    assert await alice("listTemplates", templatefilter="executable", id=tpl["id"]) == {}
    # the catalog and the cloud's facts
    caps = (await alice("listCapabilities"))["capability"]
    assert caps["cloudstackversion"].startswith("4.20") and caps["kvmsnapshotenabled"] is True
    assert (await alice("listHypervisors"))["hypervisor"] == [{"name": "KVM"}]
    # an error in XML, CloudStack's default
    r = await alice.http.get("/client/api", params={"command": "listZones", "apiKey": "nobody",
                                                     "signature": "x"})  # fmt: skip
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/xml")
    assert "<errorcode>401</errorcode>" in r.text and r.headers["x-description"]
