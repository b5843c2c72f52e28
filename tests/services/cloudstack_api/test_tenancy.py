"""Holes a review found, each closed: another account's snapshot policies, a parameter
name that would merge two pairs of the string to sign (replaying an expired request), a
session cookie alone (another site's page acting for a logged-in browser), tags written
by a read-only role or stamped with the wrong owner, an `account` named outside the
caller's reach, a rule revoked in the wrong direction, values with control characters,
libcloud's bracket encoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

from strato.services.acl import rules
from strato.services.cloudstack_api import wire
from tests.conftest import Platform
from tests.services.cloudstack_api.conftest import CsCloud, signed_query
from tests.workflows.vm_helpers import vm_zone


def test_libcloud_bracket_signatures_match() -> None:
    params = [("command", "deployVirtualMachine"), ("displayname", "web [prod] ~1"),
              ("apiKey", "AK")]  # fmt: skip
    text = "&".join(
        f"{quote(k, safe='[]')}={quote(v, safe='[]*')}"
        for k, v in sorted((k.lower(), v) for k, v in params)
    ).lower()
    sig = base64.b64encode(hmac.new(b"s3cret", text.encode(), hashlib.sha1).digest()).decode()
    assert wire.signature_matches("s3cret", params, sig)
    assert not wire.signature_matches("other", params, sig)


async def test_review_holes_are_closed(platform: Platform, cs_cloud: CsCloud) -> None:
    fab = await vm_zone(cs_cloud.acl.admin, hosts=1)
    alice_acct, alice_user, alice = await cs_cloud.account()
    _, _, bob = await cs_cloud.account()
    _, _, root = await cs_cloud.account(role=rules.ROOT_ADMIN)

    # another account's snapshot policies are not listed
    vol = (await alice("createVolume", name="v1", zoneid=fab["zone"]["id"], size=1))["jobid"]
    volume = (await alice.wait(vol))["jobresult"]["volume"]
    policy = await alice("createSnapshotPolicy", volumeid=volume["id"], intervaltype="daily",
                         schedule="00:01", maxsnaps=2, timezone="UTC")  # fmt: skip
    assert (await alice("listSnapshotPolicies"))["count"] == 1
    assert await bob("listSnapshotPolicies") == {}
    assert await bob("listSnapshotPolicies", id=policy["snapshotpolicy"]["id"]) == {}

    # a name holding '=' and '&' (which would sign as two pairs) is refused
    expired = signed_query({"command": "listZones"}, alice.api_key, alice.secret, expires_in=-60)
    expired.pop("signatureVersion")
    merged = {**expired, "response=json&signatureVersion": "3"}
    merged.pop("response")
    r = await alice.http.get("/client/api", params=merged)
    assert r.status_code in (401, 430), r.text
    # a value with a control character: 431, never an internal error
    code, err = await alice.error("listVirtualMachines", name="a\x00b")
    assert code == 431 and "non-printable" in err["errortext"]

    # a session cookie alone authenticates nothing (the sessionkey parameter does)
    form = {"command": "login", "username": alice_user["username"],
            "password": "correct horse", "response": "json"}  # fmt: skip
    r = await alice.http.post("/client/api", data=form)
    key = r.json()["loginresponse"]["sessionkey"]
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    r = await alice.http.get(
        "/client/api", params={"command": "listZones", "response": "json"},
        cookies={"JSESSIONID": key, "sessionkey": key},
    )  # fmt: skip
    assert r.status_code == 401
    r = await alice.http.get(
        "/client/api", params={"command": "listZones", "response": "json", "sessionkey": key}
    )
    assert r.status_code == 200

    # tags: a read-only role writes none; each resource's tags are its owner's
    _, _, reader = await cs_cloud.account(role=rules.READ_ONLY)
    pair_a = (await alice("createSSHKeyPair", name="ka"))["keypair"]
    pair_b = (await bob("createSSHKeyPair", name="kb"))["keypair"]
    code, _ = await reader.error("createTags", resourceids=pair_a["id"],
                                 resourcetype="SSHKeyPair",
                                 **{"tags[0].key": "k", "tags[0].value": "v"})  # fmt: skip
    assert code in (431, 432, 531)
    job = await root("createTags", resourceids=f"{pair_a['id']},{pair_b['id']}",
                     resourcetype="SSHKeyPair",
                     **{"tags[0].key": "team", "tags[0].value": "x"})  # fmt: skip
    assert (await root.wait(job["jobid"]))["jobstatus"] == 1
    mine = await alice("listTags")
    assert [t["resourceid"] for t in mine["tag"]] == [pair_a["id"]]

    # naming an account it may not act for is as unknown as a missing one (no id leaked)
    code, err = await alice.error("createSSHKeyPair", name="kx", account="admin")
    assert code == 431 and "Unable to find account" in err["errortext"], err
    own = await alice("createSSHKeyPair", name="ky", account=alice_acct["name"])
    assert own["keypair"]["account"] == alice_acct["name"]

    # a rule is revoked in its own direction only
    group = (await alice("createSecurityGroup", name="g1"))["securitygroup"]
    made = await alice.wait((await alice(
        "authorizeSecurityGroupEgress", securitygroupid=group["id"], protocol="tcp",
        startport=80, endport=80, cidrlist="0.0.0.0/0"))["jobid"])  # fmt: skip
    (rule,) = made["jobresult"]["securitygroup"]["egressrule"]
    code, err = await alice.error("revokeSecurityGroupIngress", id=rule["ruleid"])
    assert code == 431 and "egress" in err["errortext"]
    listed = await alice("listSecurityGroups", id=group["id"])
    assert len(listed["securitygroup"][0]["egressrule"]) == 1

    # events: by id (its ids are not Strato's) or tags, an empty list, not an error
    assert await alice("listEvents", id="5b6f2a52-8a53-4c4e-9a26-0e8b3c7f1d20") == {}
