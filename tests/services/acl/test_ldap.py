"""LDAP logins against a real slapd: a directory user logs in, is created in the account
its group maps to and gets that account's role; a wrong password and an unknown user
are 401, a user in no mapped group 403; with slapd stopped a directory login is a clear
503 while the domain's local users still log in."""

from __future__ import annotations

from typing import Any

import httpx
from ldap3 import HASHED_SALTED_SHA, MODIFY_ADD, MODIFY_REPLACE
from ldap3.utils.hashed import hashed

from strato.schema.db import Database
from strato.services.acl import rules
from strato.services.acl.run import sweep
from tests.helpers import ok, unique
from tests.services.acl.conftest import Cloud
from tests.slapd import ROOT_DN, ROOT_PW, SUFFIX, Slapd, slapd

__all__ = ["slapd"]


def _tree(lab: Slapd) -> dict[str, str]:
    """A fresh subtree: people alice (ops), bob (devs), carol (no group)."""
    top = f"ou={unique('t')},{SUFFIX}"
    lab.add(top, ["organizationalUnit"], ou=top.split(",")[0][3:])
    lab.add(f"ou=people,{top}", ["organizationalUnit"], ou="people")
    lab.add(f"ou=groups,{top}", ["organizationalUnit"], ou="groups")
    dns = {}
    for uid in ("alice", "bob", "carol"):
        dn = f"uid={uid},ou=people,{top}"
        lab.add(dn, ["inetOrgPerson"], uid=uid, cn=uid, sn=uid,
                userPassword=hashed(HASHED_SALTED_SHA, f"{uid}-pw"))  # fmt: skip
        dns[uid] = dn
    for group, uid in (("ops", "alice"), ("devs", "bob")):
        lab.add(f"cn={group},ou=groups,{top}", ["groupOfNames"], cn=group, member=[dns[uid]])
    return {"top": top, "ops": f"cn=ops,ou=groups,{top}", "devs": f"cn=devs,ou=groups,{top}"}


async def _login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    body = {"domain": "ROOT/corp", "username": user, "password": password}
    return await client.post("/acl/login", json=body)


async def test_ldap_users_log_in_into_their_groups_account_and_outages_are_clear(
    cloud: Cloud, slapd: Slapd
) -> None:
    tree = _tree(slapd)
    corp = await cloud.domain("corp")
    ops = await cloud.account(corp["id"], rules.DOMAIN_ADMIN, name="ops")
    devs = await cloud.account(corp["id"], rules.USER, name="devs")
    local = await cloud.user(devs["id"], password="local-password")
    binding: dict[str, Any] = {
        "url": slapd.url,
        "base_dn": tree["top"],
        "bind_dn": ROOT_DN,
        "bind_password": ROOT_PW,
        "mappings": [
            {"group_dn": tree["ops"], "account_id": ops["id"]},
            {"group_dn": tree["devs"], "account_id": devs["id"]},
        ],
    }
    shown = await ok(await cloud.admin.put(f"/acl/domains/{corp['id']}/ldap", json=binding))
    assert shown["bind_password"] is None  # never shown again
    raw = cloud.client()

    session = await ok(await _login(raw, "alice", "alice-pw"))
    assert session["user"]["source"] == "ldap" and session["user"]["account_id"] == ops["id"]
    alice_id = session["user"]["id"]
    alice = cloud.client(Authorization=f"Bearer {session['token']}")
    who = await ok(await alice.get("/acl/whoami"))
    assert (who["role_type"], who["domain_path"]) == ("DomainAdmin", "ROOT/corp")
    session = await ok(await _login(raw, "bob", "bob-pw"))
    assert session["user"]["account_id"] == devs["id"]
    again = await ok(await _login(raw, "alice", "alice-pw"))  # the same user, not a new one
    assert again["user"]["id"] == alice_id
    users = await ok(await cloud.admin.get("/acl/users", params={"account_id": ops["id"]}))
    assert [u["username"] for u in users] == ["alice"]
    # bob moves from devs to ops in the directory: his next login follows, role and all.
    conn = slapd.admin()
    conn.modify(tree["ops"], {"member": [(MODIFY_ADD, [f"uid=bob,ou=people,{tree['top']}"])]})
    conn.modify(
        tree["devs"], {"member": [(MODIFY_REPLACE, [f"uid=alice,ou=people,{tree['top']}"])]}
    )
    conn.unbind()
    moved = await ok(await _login(raw, "bob", "bob-pw"))
    assert moved["user"]["account_id"] == ops["id"] and moved["user"]["id"] == session["user"]["id"]

    for user, password, status, words in (
        ("alice", "wrong", 401, "username or password is wrong"),
        ("alice", "", 422, ""),
        ("nobody", "x", 401, "username or password is wrong"),
        ("carol", "carol-pw", 403, "none of the user's LDAP groups"),
    ):
        r = await _login(raw, user, password)
        assert r.status_code == status, (user, r.text)
        assert words in r.json()["detail"], r.text
    # LDAP failures are the directory's to count: the user is not locked here.
    assert (await ok(await cloud.admin.get(f"/acl/users/{alice_id}")))["state"] == "Enabled"

    slapd.stop()
    try:
        r = await _login(raw, "alice", "alice-pw")
        assert r.status_code == 503, r.text
        assert slapd.url in r.json()["detail"] and "local users" in r.json()["detail"]
        # The domain's local users are not locked out by the outage.
        await ok(await _login(raw, local["username"], "local-password"))
        # An existing session still works (the directory is asked at login only).
        await ok(await alice.get("/acl/whoami"))
    finally:
        slapd.start()
    await ok(await _login(raw, "alice", "alice-pw"))


async def test_ldap_bindings_refuse_bad_input(cloud: Cloud, slapd: Slapd) -> None:
    corp = await cloud.domain("corp")
    other = await cloud.domain("other")
    elsewhere = await cloud.account(other["id"])
    mine = await cloud.account(corp["id"])
    good = {"url": slapd.url, "base_dn": SUFFIX,
            "mappings": [{"group_dn": "cn=x," + SUFFIX, "account_id": mine["id"]}]}  # fmt: skip
    for body, words in (
        ({**good, "url": "http://example.test"}, "ldap://"),
        ({**good, "mappings": []}, ""),
        (
            {**good, "mappings": [{"group_dn": "cn=x", "account_id": elsewhere["id"]}]},
            "is not in domain",
        ),
    ):
        r = await cloud.admin.put(f"/acl/domains/{corp['id']}/ldap", json=body)
        assert r.status_code == 422 and words in r.text, r.text
    r = await cloud.admin.get(f"/acl/domains/{corp['id']}/ldap")
    assert r.status_code == 404, r.text
    _, user = await cloud.principal(corp["id"])
    r = await user.put(f"/acl/domains/{corp['id']}/ldap", json=good)
    assert r.status_code == 403, r.text


async def test_the_acl_process_follows_the_directory(
    cloud: Cloud, slapd: Slapd, db: Database
) -> None:
    """The ACL's housekeeping round (strato.services.acl.run): a user deleted from the
    directory is disabled and its session ended; one moved to another group follows it;
    with the directory down, nobody is touched."""
    tree = _tree(slapd)
    corp = await cloud.domain("corp")
    ops = await cloud.account(corp["id"], rules.DOMAIN_ADMIN, name="ops")
    devs = await cloud.account(corp["id"], rules.USER, name="devs")
    binding = {"url": slapd.url, "base_dn": tree["top"], "bind_dn": ROOT_DN,
               "bind_password": ROOT_PW,
               "mappings": [{"group_dn": tree["ops"], "account_id": ops["id"]},
                            {"group_dn": tree["devs"], "account_id": devs["id"]}]}  # fmt: skip
    await ok(await cloud.admin.put(f"/acl/domains/{corp['id']}/ldap", json=binding))
    raw = cloud.client()
    alice = await ok(await _login(raw, "alice", "alice-pw"))
    bob = await ok(await _login(raw, "bob", "bob-pw"))
    auth = cloud.service.auth

    slapd.stop()
    try:
        done = await sweep(db, auth)
        assert done["directories_unreachable"] == 1 and not done["disabled"], done
    finally:
        slapd.start()

    conn = slapd.admin()
    conn.delete(f"uid=alice,ou=people,{tree['top']}")
    conn.modify(
        tree["devs"], {"member": [(MODIFY_REPLACE, [f"uid=carol,ou=people,{tree['top']}"])]}
    )
    conn.modify(tree["ops"], {"member": [(MODIFY_REPLACE, [f"uid=bob,ou=people,{tree['top']}"])]})
    conn.unbind()
    done = await sweep(db, auth)
    assert (done["disabled"], done["moved"]) == (1, 1), done
    auth.invalidate()  # the API process forgets its lookups within STRATO_ACL_CACHE_S
    gone = cloud.client(Authorization=f"Bearer {alice['token']}")
    r = await gone.get("/acl/whoami")
    assert r.status_code == 401, r.text
    me = cloud.client(Authorization=f"Bearer {bob['token']}")
    assert (await ok(await me.get("/acl/whoami")))["account_id"] == ops["id"]
