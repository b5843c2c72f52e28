"""The `cs` library (what Ansible's CloudStack modules use) against a real `strato up`:
the full scenario, unchanged client, signatureVersion 3 with expires, async jobs polled
by the client."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException

from tests.system.cloudstack.conftest import StratoUp

pytestmark = pytest.mark.system


def client(up: StratoUp, who: dict[str, str], method: str = "get") -> CloudStack:
    return CloudStack(
        endpoint=up.endpoint,
        key=who["key"],
        secret=who["secret"],
        method=method,
        poll_interval=0.2,
        job_timeout=120,
        fetch_result=True,
    )


def catalog(api: CloudStack) -> dict[str, Any]:
    """What a deploy needs, found by name as a user's script finds it."""
    zone = next(z for z in api.listZones()["zone"] if z["name"] == "demo")
    offering = api.listServiceOfferings(name="small")["serviceoffering"][0]
    template = next(
        t
        for t in api.listTemplates(templatefilter="executable", zoneid=zone["id"])["template"]
        if t["name"] == "tiny-linux"
    )
    isolated = api.listNetworkOfferings(guestiptype="Isolated")["networkoffering"][0]
    disk = api.listDiskOfferings(name="small-20g")["diskoffering"][0]
    return {
        "zone": zone,
        "offering": offering,
        "template": template,
        "isolated": isolated,
        "disk": disk,
    }


def test_cs_full_scenario(strato_up: StratoUp) -> None:
    who = strato_up.account()
    api = client(strato_up, who)
    cat = catalog(api)
    assert cat["template"]["isready"] is True and cat["zone"]["networktype"] == "Advanced"
    net = api.createNetwork(
        name="net1",
        displaytext="net1",
        zoneid=cat["zone"]["id"],
        networkofferingid=cat["isolated"]["id"],
    )["network"]
    assert net["type"] == "Isolated" and net["account"] == who["account"]
    pair = api.createSSHKeyPair(name="key1")["keypair"]
    assert pair["privatekey"].startswith("-----BEGIN") and pair["fingerprint"]
    vm = api.deployVirtualMachine(
        zoneid=cat["zone"]["id"],
        serviceofferingid=cat["offering"]["id"],
        templateid=cat["template"]["id"],
        networkids=net["id"],
        keypair="key1",
        name="web1",
    )["virtualmachine"]
    assert vm["state"] == "Running" and vm["keypairs"] == "key1"
    nic = vm["nic"][0]
    assert nic["networkid"] == net["id"] and ipaddress.ip_address(nic["ipaddress"]) in (
        ipaddress.ip_network(net["cidr"])
    )
    assert api.stopVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Stopped"
    assert api.startVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    assert api.rebootVirtualMachine(id=vm["id"])["virtualmachine"]["state"] == "Running"
    # a data volume: create, attach, detach, delete
    vol = api.createVolume(
        name="data1", zoneid=cat["zone"]["id"], diskofferingid=cat["disk"]["id"]
    )["volume"]
    assert vol["type"] == "DATADISK" and vol["size"] == 20 << 30
    attached = api.attachVolume(id=vol["id"], virtualmachineid=vm["id"])["volume"]
    assert attached["virtualmachineid"] == vm["id"] and "attached" in attached
    listed = api.listVolumes(virtualmachineid=vm["id"])
    assert {v["type"] for v in listed["volume"]} == {"ROOT", "DATADISK"}
    detached = api.detachVolume(id=vol["id"])["volume"]
    assert "virtualmachineid" not in detached and "attached" not in detached
    assert api.deleteVolume(id=vol["id"])["success"] == "true"  # a sync command's, as CloudStack
    assert "volume" not in api.listVolumes(id=vol["id"])
    # a snapshot of the root volume (stopped: the simulated host snapshots no running disk)
    root = api.listVolumes(virtualmachineid=vm["id"], type="ROOT")["volume"][0]
    api.stopVirtualMachine(id=vm["id"])
    snap = api.createSnapshot(volumeid=root["id"])["snapshot"]
    assert snap["state"] == "BackedUp" and snap["volumeid"] == root["id"]
    assert api.listSnapshots(volumeid=root["id"])["snapshot"][0]["id"] == snap["id"]
    api.startVirtualMachine(id=vm["id"])
    # a public IP and a port forward to the VM
    ip = api.associateIpAddress(networkid=net["id"])["ipaddress"]
    assert ip["ipaddress"].startswith("203.0.113.") and ip["associatednetworkid"] == net["id"]
    rule = api.createPortForwardingRule(
        ipaddressid=ip["id"],
        protocol="tcp",
        publicport=2222,
        privateport=22,
        virtualmachineid=vm["id"],
    )["portforwardingrule"]
    assert (rule["publicport"], rule["privateport"]) == ("2222", "22")
    rules = api.listPortForwardingRules(ipaddressid=ip["id"])
    assert rules["count"] == 1 and rules["portforwardingrule"][0]["id"] == rule["id"]
    assert api.deletePortForwardingRule(id=rule["id"])["success"] is True
    assert api.listPortForwardingRules(ipaddressid=ip["id"]) == {}
    assert api.disassociateIpAddress(id=ip["id"])["success"] is True
    # tags, as Ansible's modules set them
    api.createTags(
        resourceids=vm["id"], resourcetype="UserVm", tags=[{"key": "tier", "value": "web"}]
    )
    tagged = api.listVirtualMachines(tags=[{"key": "tier", "value": "web"}])
    assert [v["id"] for v in tagged["virtualmachine"]] == [vm["id"]]
    assert tagged["virtualmachine"][0]["tags"] == [
        {"key": "tier", "value": "web", "resourcetype": "UserVm", "resourceid": vm["id"]}
    ]
    # destroy with expunge: gone
    api.destroyVirtualMachine(id=vm["id"], expunge=True)
    assert api.listVirtualMachines(id=vm["id"]) == {}
    # another account sees none of it; a bad secret is a 401
    other = client(strato_up, strato_up.account())
    assert other.listVolumes() == {} and other.listNetworks(type="Isolated") == {}
    with pytest.raises(CloudStackApiException) as bad:
        client(strato_up, {**who, "secret": "wrong"}).listZones()
    assert "401" in str(bad.value)


def test_cs_post_and_the_cli(strato_up: StratoUp) -> None:
    """POST forms (`CLOUDSTACK_METHOD=post`) and the `cs` command line."""
    import os
    import subprocess
    import sys

    who = strato_up.account()
    api = client(strato_up, who, method="post")
    assert api.listZones()["count"] >= 1
    env = {
        **os.environ,
        "CLOUDSTACK_ENDPOINT": strato_up.endpoint,
        "CLOUDSTACK_KEY": who["key"],
        "CLOUDSTACK_SECRET": who["secret"],
    }
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "cs"), "listZones", "name=demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '"name": "demo"' in out.stdout
