"""The CloudStack API's wire: signatures as CloudStack's clients make them, its error
envelope with the HTTP status equal to errorcode, paging, XML, sessions, and async
jobs that are their account's alone. Bad requests change nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from strato.schema.db import Database
from strato.services.acl import rules
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique
from tests.services.cloudstack_api.conftest import CsCloud, signed_query
from tests.workflows.vm_helpers import vm_zone


async def test_signatures_and_bad_requests_get_the_error_envelope_and_change_nothing(
    platform: Platform, cs_cloud: CsCloud, db: Database
) -> None:
    fab = await vm_zone(cs_cloud.acl.admin, hosts=1)
    _, _, alice = await cs_cloud.account()
    zones = await alice("listZones")
    assert zones["count"] >= 1 and fab["zone"]["id"] in {z["id"] for z in zones["zone"]}
    # the same request as a POST form, names in another case, booleans in capitals
    r = await alice.raw("listZones", method="POST", available="TRUE")
    assert r.status_code == 200 and r.json()["listzonesresponse"]["count"] >= 1
    assert r.headers["content-type"].startswith("application/json")
    before = await table_counts(db)

    async def refused(query: dict[str, str], code: int) -> dict[str, Any]:
        r = await alice.http.get("/client/api", params=query)
        assert r.status_code == code, r.text
        (envelope,) = r.json().values()
        assert envelope["errorcode"] == code and envelope["errortext"], envelope
        return dict(envelope)

    deploy = {
        "command": "deployVirtualMachine",
        "zoneid": fab["zone"]["id"],
        "serviceofferingid": fab["offering"]["id"],
        "templateid": fab["template"]["id"],
    }
    # a wrong secret, an expired request, an unsigned one, an unknown key
    await refused(signed_query(deploy, alice.api_key, "not-the-secret"), 401)
    await refused(signed_query(deploy, alice.api_key, alice.secret, expires_in=-5), 401)
    await refused({**deploy, "apiKey": alice.api_key, "response": "json"}, 401)
    await refused(signed_query(deploy, "AKnobody", alice.secret), 401)
    # a parameter changed after signing
    tampered = signed_query(deploy, alice.api_key, alice.secret) | {"zoneid": fab["pod"]["id"]}
    await refused(tampered, 401)
    # an unknown command: 432, naming the closest supported one when there is one
    code, err = await alice.error("listVPCs")
    assert code == 432 and "listNetworks" in err["errortext"]
    code, err = await alice.error("noSuchCommand")
    assert code == 432
    # an unknown id, a missing parameter, a malformed UUID, pagesizes 0 and 10^9
    code, err = await alice.error(**{**deploy, "zoneid": "3f0d8d36-3c34-4f6b-9a5a-2b0b5d1c7e11"})
    assert code == 431 and "3f0d8d36" in err["errortext"], err
    code, err = await alice.error("deployVirtualMachine", zoneid=fab["zone"]["id"])
    assert code == 431 and "missing parameter serviceofferingid" in err["errortext"], err
    code, err = await alice.error("listVirtualMachines", id="not-a-uuid")
    assert code == 431 and "not-a-uuid" in err["errortext"], err
    for size in (0, 10**9):
        code, err = await alice.error("listVirtualMachines", pagesize=size)
        assert code == 431, err
    code, err = await alice.error("stopVirtualMachine", id="3f0d8d36-3c34-4f6b-9a5a-2b0b5d1c7e11")
    assert code == 431, err
    # an admin command is unknown to a user
    code, _ = await alice.error("listHosts")
    assert code == 432
    assert await table_counts(db) == before


async def test_deploy_as_an_async_job_of_its_account_alone(
    platform: Platform, cs_cloud: CsCloud, db: Database
) -> None:
    fab = await vm_zone(cs_cloud.acl.admin, hosts=1)
    alice_acct, _, alice = await cs_cloud.account()
    _, _, bob = await cs_cloud.account()
    pair = await alice("createSSHKeyPair", name="k1")
    assert pair["keypair"]["privatekey"].startswith("-----BEGIN")
    started = await alice(
        "deployVirtualMachine",
        zoneid=fab["zone"]["id"],
        serviceofferingid=fab["offering"]["id"],
        templateid=fab["template"]["id"],
        networkids=fab["network"]["id"],
        keypair="k1",
        name="web1",
    )
    assert set(started) == {"id", "jobid"}
    # another account's job is as unknown as a missing one
    code, _ = await bob.error("queryAsyncJobResult", jobid=started["jobid"])
    assert code == 431
    assert await bob("listAsyncJobs") == {}
    job = await alice.wait(started["jobid"])
    assert job["jobstatus"] == 1 and job["jobresultcode"] == 0, job
    vm = job["jobresult"]["virtualmachine"]
    assert vm["id"] == started["id"] and vm["state"] == "Running" and vm["name"] == "web1"
    assert vm["account"] == alice_acct["name"] and vm["keypairs"] == "k1"
    assert vm["nic"][0]["isdefault"] is True and vm["nic"][0]["ipaddress"]
    assert (
        job["cmd"].endswith("deployVirtualMachineCmd")
        and job["jobinstancetype"] == "VirtualMachine"
    )
    listed = await alice("listVirtualMachines", id=started["id"])
    assert listed["count"] == 1 and listed["virtualmachine"][0]["state"] == "Running"
    assert await bob("listVirtualMachines") == {}
    jobs = await alice("listAsyncJobs")
    assert jobs["count"] == 1 and jobs["asyncjobs"][0]["jobstatus"] == 1
    # stop: the job's result is the VM as the list shows it
    stop = await alice.wait((await alice("stopVirtualMachine", id=started["id"]))["jobid"])
    assert stop["jobresult"]["virtualmachine"]["state"] == "Stopped"
    # stopping it again is refused at once, in the envelope
    code, err = await alice.error("stopVirtualMachine", id=started["id"])
    assert code == 431 and "Stopped" in err["errortext"], err
    # a job that fails: status 2, its error inside jobresult
    huge = await ok(
        await cs_cloud.acl.admin.post(
            "/service-offerings",
            json={
                "name": unique("huge"),
                "cpu_count": 1,
                "cpu_speed_mhz": 1000,
                "memory_mb": 4_000_000,
            },
        ),
        201,
    )
    failing = await alice(
        "deployVirtualMachine",
        zoneid=fab["zone"]["id"],
        serviceofferingid=huge["id"],
        templateid=fab["template"]["id"],
    )
    failed = await alice.wait(failing["jobid"])
    assert failed["jobstatus"] == 2 and failed["jobresultcode"] == 530, failed
    assert failed["jobresult"]["errorcode"] == 530 and failed["jobresult"]["errortext"]
    done = await alice.wait(
        (await alice("destroyVirtualMachine", id=started["id"], expunge="true"))["jobid"]
    )
    assert done["jobstatus"] == 1, done
    left = await alice("listVirtualMachines")  # the expunged VM is gone; the failed one stays
    assert [(v["id"], v["state"]) for v in left["virtualmachine"]] == [(failing["id"], "Error")]


async def test_paging_xml_and_sessions(cs_cloud: CsCloud) -> None:
    _, user, alice = await cs_cloud.account()
    for _ in range(5):
        await alice("createSSHKeyPair", name=unique("k"))
    page = await alice("listSSHKeyPairs", page=2, pagesize=2)
    assert page["count"] == 5 and len(page["sshkeypair"]) == 2
    assert await alice("listSSHKeyPairs", page=4, pagesize=2) == {"count": 5}
    xml = await alice.raw("listSSHKeyPairs", response="xml", pagesize=1)
    assert xml.status_code == 200 and xml.text.startswith("<?xml")
    assert "<count>5</count>" in xml.text and xml.text.count("<sshkeypair>") == 1
    # a session from login (a POST), then requests with its key and cookie
    http = alice.http
    form = {
        "command": "login",
        "username": user["username"],
        "password": "correct horse",
        "response": "json",
    }
    r = await http.post(
        "/client/api",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    key = r.json()["loginresponse"]["sessionkey"]
    assert r.cookies.get("JSESSIONID") == key
    listed = await http.get(
        "/client/api", params={"command": "listSSHKeyPairs", "sessionkey": key, "response": "json"}
    )
    assert listed.json()["listsshkeypairsresponse"]["count"] == 5
    bad = await http.post(
        "/client/api",
        content=urlencode({**form, "password": "wrong"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 531
    out = await http.get(
        "/client/api", params={"command": "logout", "sessionkey": key, "response": "json"}
    )
    assert out.status_code == 200
    gone = await http.get(
        "/client/api", params={"command": "listSSHKeyPairs", "sessionkey": key, "response": "json"}
    )
    assert gone.status_code == 401
    apis = await alice("listApis")
    names = {a["name"] for a in apis["api"]}
    assert {"deployVirtualMachine", "queryAsyncJobResult"} <= names and "listHosts" not in names
    deploy = next(a for a in apis["api"] if a["name"] == "deployVirtualMachine")
    assert deploy["isasync"] is True
    assert {"name": "zoneid", "required": True}.items() <= next(
        p for p in deploy["params"] if p["name"] == "zoneid"
    ).items()


async def test_accounts_domains_and_users_through_the_acl(cs_cloud: CsCloud) -> None:
    _, _, root = await cs_cloud.account(role=rules.ROOT_ADMIN)
    sales = (await root("createDomain", name="sales"))["domain"]
    assert sales["path"] == "ROOT/sales" and sales["level"] == 1
    made = await root(
        "createAccount", account="acme", username="ann", password="correct horse",
        email="ann@example.com", firstname="Ann", lastname="A", domainid=sales["id"],
        accounttype=0,
    )  # fmt: skip
    acme = made["account"]
    assert acme["accounttype"] == 0 and acme["state"] == "enabled"
    (ann,) = acme["user"]
    keys = (await root("registerUserKeys", id=ann["id"]))["userkeys"]
    ann_client = cs_cloud.client({"access_key": keys["apikey"], "secret_key": keys["secretkey"]})
    mine = await ann_client("listAccounts")
    assert [a["name"] for a in mine["account"]] == ["acme"]
    assert [d["path"] for d in (await ann_client("listDomains"))["domain"]] == ["ROOT/sales"]
    users = await root("listUsers", account="acme", domainid=sales["id"])
    assert [u["username"] for u in users["user"]] == ["ann"]
    # a user may not make accounts or domains
    code, err = await ann_client.error("createDomain", name="mine")
    assert code == 431, err  # ROOT is not a domain it sees
    assert "mine" not in {d["name"] for d in (await root("listDomains"))["domain"]}
    # a domain admin of sales sees its subtree only
    _, _, sales_admin = await cs_cloud.account(sales["id"], rules.DOMAIN_ADMIN)
    seen = {a["name"] for a in (await sales_admin("listAccounts"))["account"]}
    assert "acme" in seen and "admin" not in seen
