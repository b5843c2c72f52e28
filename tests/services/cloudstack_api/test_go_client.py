"""The requests HashiCorp Terraform's CloudStack provider sends, exactly as its Go
client (apache/cloudstack-go v2.19) builds them, and the answers it needs: keys
sorted byte-wise and left unescaped, values escaped as Go's QueryEscape with "%20"
and "*"; ``signatureversion=3`` and an RFC 3339 ``expires`` with ``Z``; lists by GET,
every change a POST form; ``projectid=-1``; map parameters one index per key; strict
JSON types (port forward ports strings, firewall ports numbers, job success a JSON
true, a sync success "true"); the "does not exist" texts it matches. The provider
itself (Go) cannot be installed here; docs/cloudstack-api.md lists its calls."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from tests.conftest import Platform
from tests.services.cloudstack_api.conftest import CsCloud
from tests.workflows.test_guest_networks import guest_zone

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")  # Go's -0700 layout


def _go_escape(value: str) -> str:
    return quote_plus(value, safe="-_.~").replace("+", "%20").replace("%2A", "*")


class GoClient:
    """cloudstack-go's newRawRequest, in Python."""

    def __init__(self, http: httpx.AsyncClient, key: str, secret: str) -> None:
        self.http, self.key, self.secret = http, key, secret

    async def raw(self, api: str, post: bool, **params: Any) -> httpx.Response:
        values = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        expires = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
        values |= {"apiKey": self.key, "command": api, "response": "json",
                   "signatureversion": "3", "expires": expires}  # fmt: skip
        canonical = "&".join(f"{k}={_go_escape(values[k])}" for k in sorted(values))
        mac = hmac.new(self.secret.encode(), canonical.lower().encode(), hashlib.sha1)
        signature = base64.b64encode(mac.digest()).decode()
        if post:
            body = urlencode(sorted({**values, "signature": signature}.items()))
            return await self.http.post(
                "/client/api", content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
        url = f"/client/api?{canonical}&signature={quote_plus(signature)}"
        return await self.http.get(url)

    async def __call__(self, api: str, post: bool = False, **params: Any) -> dict[str, Any]:
        r = await self.raw(api, post, **params)
        assert r.status_code == 200, (api, r.text)
        (body,) = r.json().values()  # exactly one key, stripped as getRawValue does
        return dict(body)

    async def job(self, api: str, **params: Any) -> dict[str, Any]:
        """An async command, POSTed, then queryAsyncJobResult (GET) until done."""
        started = await self(api, post=True, **params)
        while True:
            found = await self("queryAsyncJobResult", jobid=started["jobid"])
            assert isinstance(found["jobstatus"], int) and isinstance(found["jobresultcode"], int)
            if found["jobstatus"] == 1:
                return dict(found["jobresult"])
            assert found["jobstatus"] == 0, found


async def test_terraform_provider_requests(platform: Platform, cs_cloud: CsCloud) -> None:
    fab = await guest_zone(cs_cloud.acl.admin, hosts=1)
    _, _, signed = await cs_cloud.account()
    go = GoClient(signed.http, signed.api_key, signed.secret)
    zone_name = fab["zone"]["name"]
    # retrieveID: names to ids, each lookup answering count 1
    zones = await go("listZones", name=zone_name)
    assert zones["count"] == 1
    zone = zones["zone"][0]["id"]
    assert (await go("listZones", id=zone))["zone"][0]["networktype"] == "Advanced"
    offering = await go("listServiceOfferings", name=fab["offering"]["name"], zoneid=zone)
    assert offering["count"] == 1
    tpl = await go("listTemplates", templatefilter="executable", name=fab["template"]["name"],
                   zoneid=zone)  # fmt: skip
    assert tpl["count"] == 1 and tpl["template"][0]["isready"] is True
    # cloudstack_network: gateway and netmask from its cidr
    offerings = await go(
        "listNetworkOfferings", name="DefaultIsolatedNetworkOfferingWithSourceNatService"
    )
    off = offerings["networkoffering"][0]
    assert off["specifyipranges"] is False
    net = (await go("createNetwork", post=True, name="tf-net", displaytext="tf net",
                    networkofferingid=off["id"], zoneid=zone, gateway="10.90.0.1",
                    netmask="255.255.255.0"))["network"]  # fmt: skip
    assert net["cidr"] == "10.90.0.0/24" and net["name"] == "tf-net"
    await go.job("createTags", resourceids=net["id"], resourcetype="network",
                 **{"tags[0].key": "env", "tags[0].value": "tf"})  # fmt: skip
    read = await go("listNetworks", id=net["id"], projectid="-1")
    assert read["count"] == 1 and read["network"][0]["tags"][0]["key"] == "env"
    assert "vpcid" not in read["network"][0]
    # cloudstack_ssh_keypair, cloudstack_instance
    pair = (await go("createSSHKeyPair", post=True, name="tf-key"))["keypair"]
    assert pair["privatekey"].startswith("-----BEGIN")
    vm = (await go.job(
        "deployVirtualMachine", serviceofferingid=offering["serviceoffering"][0]["id"],
        templateid=tpl["template"][0]["id"], zoneid=zone, startvm=True, name="tf-web",
        displayname="tf web", networkids=net["id"], keypair="tf-key",
        **{"details[0].cpuNumber": "1", "details[1].memory": "1024"},
    ))["virtualmachine"]  # fmt: skip
    assert vm["nic"][0]["ipaddress"] and isinstance(vm["nic"][0]["deviceid"], str)
    assert isinstance(vm["cpunumber"], int) and isinstance(vm["memory"], int)
    assert DATE.match(vm["created"]), vm["created"]
    await go.job("createTags", resourceids=vm["id"], resourcetype="userVm",
                 **{"tags[0].key": "role", "tags[0].value": "web"})  # fmt: skip
    listed = await go("listVirtualMachines", id=vm["id"], projectid="-1")
    assert listed["count"] == 1
    tag = {"key": "role", "value": "web", "resourcetype": "userVm", "resourceid": vm["id"]}
    assert listed["virtualmachine"][0]["tags"] == [tag]
    root = await go("listVolumes", type="ROOT", virtualmachineid=vm["id"])
    assert isinstance(root["volume"][0]["size"], int) and root["volume"][0]["size"] > 0
    # cloudstack_ipaddress, cloudstack_port_forward, cloudstack_firewall, egress
    ip = (await go.job("associateIpAddress", networkid=net["id"], zoneid=zone))["ipaddress"]
    assert DATE.match(ip["allocated"])
    pf = (await go.job("createPortForwardingRule", ipaddressid=ip["id"], privateport=22,
                       protocol="tcp", publicport=2222, virtualmachineid=vm["id"],
                       networkid=net["id"], openfirewall=False))["portforwardingrule"]  # fmt: skip
    rules = await go("listPortForwardingRules", ipaddressid=ip["id"], listall=True)
    assert rules["portforwardingrule"][0]["publicport"] == "2222"
    assert rules["portforwardingrule"][0]["privateendport"] == "22"
    fw = (await go.job("createFirewallRule", ipaddressid=ip["id"], protocol="tcp",
                       cidrlist="10.0.0.0/8,192.168.0.0/16", startport=80, endport=81))  # fmt: skip
    fws = await go("listFirewallRules", ipaddressid=ip["id"], listall=True)
    assert fws["firewallrule"][0]["startport"] == 80
    assert fws["firewallrule"][0]["cidrlist"] == "10.0.0.0/8,192.168.0.0/16"
    eg = await go.job("createEgressFirewallRule", networkid=net["id"], protocol="all")
    egs = await go("listEgressFirewallRules", networkid=net["id"], listall=True)
    assert egs["firewallrule"][0]["id"] == eg["firewallrule"]["id"]
    for api, rule_id in (("deletePortForwardingRule", pf["id"]),
                         ("deleteFirewallRule", fw["firewallrule"]["id"]),
                         ("deleteEgressFirewallRule", eg["firewallrule"]["id"])):  # fmt: skip
        assert await go.job(api, id=rule_id) == {"success": True}  # a JSON true
    # cloudstack_security_group(_rule): the job answers only the rule it made
    group = await go("createSecurityGroup", post=True, name="tf-sg", description="tf-sg")
    gid = group["securitygroup"]["id"]
    for port in (22, 443):
        made = await go.job(
            "authorizeSecurityGroupIngress", securitygroupid=gid, cidrlist="0.0.0.0/0",
            protocol="tcp", startport=port, endport=port,
        )  # fmt: skip
        (rule,) = made["securitygroup"]["ingressrule"]
        assert rule["startport"] == port and rule["ruleid"]
    assert len((await go("listSecurityGroups", id=gid))["securitygroup"][0]["ingressrule"]) == 2
    assert await go.job("revokeSecurityGroupIngress", id=rule["ruleid"]) == {"success": True}
    assert await go("deleteSecurityGroup", post=True, id=gid) == {"success": "true"}
    # the "does not exist" answers the provider matches to treat a resource as gone
    r = await go.raw("deleteSSHKeyPair", True, name="no-such-key")
    assert r.status_code == 431
    assert "A key pair with name 'no-such-key' does not exist for account" in r.text
    missing = "5b6f2a52-8a53-4c4e-9a26-0e8b3c7f1d20"
    r = await go.raw("destroyVirtualMachine", True, id=missing, expunge=True)
    assert r.status_code == 431
    assert (f"Invalid parameter id value={missing} due to incorrect long value format, "
            "or entity does not exist") in r.text  # fmt: skip
    assert await go("listVirtualMachines", id=missing) == {}
    # teardown as the provider does it
    assert await go.job("disassociateIpAddress", id=ip["id"]) == {"success": True}
    gone = await go.job("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert gone["virtualmachine"]["id"] == vm["id"]
    assert await go("deleteSSHKeyPair", post=True, name="tf-key") == {"success": "true"}
    assert await go.job("deleteNetwork", id=net["id"]) == {"success": True}
