"""Signed requests, sessions and the ACL's own bad input: a wrong secret, a request
outside its time window (a replay), a tampered parameter or body, a disabled user, a
locked user, a domain under a missing parent, a bad rule: the right 401/403/404/422,
and nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from strato.schema.db import Database
from strato.sdk import signing
from strato.services.acl import rules
from tests.helpers import ok, table_counts
from tests.services.acl.conftest import Cloud


def _raw(cloud: Cloud) -> httpx.AsyncClient:
    return cloud.client()


async def _signed_get(
    client: httpx.AsyncClient, key: dict[str, Any], path: str, **kw: Any
) -> httpx.Response:
    headers = signing.sign_headers(
        key["access_key"],
        kw.pop("secret", key["secret_key"]),
        "GET",
        f"/api/v1{path}",
        kw.pop("signed_query", []),
        b"",
        now=kw.pop("now", None),
    )
    return await client.get(path, headers=headers, params=kw.pop("params", None))


async def test_signatures_refuse_wrong_secrets_replays_and_tampering(
    cloud: Cloud, db: Database
) -> None:
    east = await cloud.domain("east")
    acct = await cloud.account(east["id"])
    user = await cloud.user(acct["id"])
    key = await cloud.key(user["id"])
    assert key["secret_key"] and key["access_key"].startswith("STK")
    listed = await ok(await cloud.admin.get(f"/acl/users/{user['id']}/keys"))
    assert "secret_key" not in listed[0]  # shown once, at creation
    raw = _raw(cloud)

    r = await _signed_get(raw, key, "/vms")
    assert r.status_code == 200, r.text
    who = await ok(await cloud.signed(key).get("/acl/whoami"))
    assert who["account_id"] == acct["id"] and who["domain_path"] == "ROOT/east"

    r = await _signed_get(raw, key, "/vms", secret="not-the-secret")
    assert r.status_code == 401 and "signature does not match" in r.json()["detail"], r.text
    old = datetime.now(UTC) - timedelta(minutes=10)
    r = await _signed_get(raw, key, "/vms", now=old)
    assert r.status_code == 401 and "outside the 300 s window" in r.json()["detail"], r.text
    r = await _signed_get(raw, key, "/vms", signed_query=[("limit", "5")], params={"limit": "6"})
    assert r.status_code == 401 and "signature does not match" in r.json()["detail"], r.text
    r = await raw.get("/vms", headers={"Authorization": f"{signing.ALGORITHM} Credential=x"})
    assert r.status_code == 401 and "Credential=<access key>" in r.json()["detail"], r.text
    r = await raw.get(
        "/vms",
        headers={
            "Authorization": f"{signing.ALGORITHM} Credential=STKnope, Signature=00",
            signing.DATE_HEADER: signing.stamp(),
            signing.CONTENT_HEADER: signing.UNSIGNED,
        },
    )
    assert r.status_code == 401 and "unknown or has been revoked" in r.json()["detail"], r.text

    # A body other than the one signed: refused, nothing made.
    before = await table_counts(db)
    signed_body = json.dumps({"name": "a", "parent_id": east["id"]}).encode()
    headers = signing.sign_headers(
        key["access_key"], key["secret_key"], "POST", "/api/v1/acl/domains", [], signed_body
    )
    sent = json.dumps({"name": "b", "parent_id": east["id"]}).encode()
    r = await raw.post(
        "/acl/domains", content=sent, headers={**headers, "content-type": "application/json"}
    )
    assert r.status_code == 401 and "does not match the body" in r.json()["detail"], r.text
    assert await table_counts(db) == before

    # A disabled user is refused at once; enabled again, let in.
    await ok(await cloud.admin.patch(f"/acl/users/{user['id']}", json={"state": "Disabled"}))
    r = await _signed_get(raw, key, "/vms")
    assert r.status_code == 401 and "user is disabled" in r.json()["detail"], r.text
    await ok(await cloud.admin.patch(f"/acl/users/{user['id']}", json={"state": "Enabled"}))
    assert (await _signed_get(raw, key, "/vms")).status_code == 200


async def test_password_logins_sessions_and_lockout(cloud: Cloud) -> None:
    east = await cloud.domain("east")
    acct = await cloud.account(east["id"])
    user = await cloud.user(acct["id"], password="s3cret-enough")
    raw = _raw(cloud)
    login = {"domain": "ROOT/east", "username": user["username"], "password": "s3cret-enough"}

    session = await ok(await raw.post("/acl/login", json=login))
    assert session["user"]["id"] == user["id"] and session["token"].startswith("sess_")
    client = cloud.client(Authorization=f"Bearer {session['token']}")
    assert (await ok(await client.get("/acl/whoami")))["user_id"] == user["id"]

    for body in (
        {**login, "password": "wrong-password"},
        {**login, "username": "nobody"},
        {**login, "domain": "ROOT/nowhere"},
    ):
        r = await raw.post("/acl/login", json=body)
        assert r.status_code == 401 and "username or password is wrong" in r.json()["detail"]
    # Three wrong passwords in a row (max_failed_logins=3) lock the user, even against
    # the right password, until an administrator enables it.
    for _ in range(2):
        assert (await raw.post("/acl/login", json={**login, "password": "nope"})).status_code == 401
    r = await raw.post("/acl/login", json={**login, "password": "nope"})
    assert "locked" not in r.json()["detail"], r.text  # told only with the right password
    r = await raw.post("/acl/login", json=login)
    assert r.status_code == 401 and "locked" in r.json()["detail"], r.text
    assert (await ok(await cloud.admin.get(f"/acl/users/{user['id']}")))["state"] == "Locked"
    await ok(await cloud.admin.patch(f"/acl/users/{user['id']}", json={"state": "Enabled"}))
    await ok(await raw.post("/acl/login", json=login))

    await ok(await client.post("/acl/logout"), 204)
    r = await client.get("/acl/whoami")
    assert r.status_code == 401 and "session" in r.json()["detail"], r.text


async def test_the_acl_refuses_bad_input_and_changes_nothing(cloud: Cloud, db: Database) -> None:
    east = await cloud.domain("east")
    _, user = await cloud.principal(east["id"])
    _, east_admin = await cloud.principal(east["id"], rules.DOMAIN_ADMIN)
    before = await table_counts(db)
    missing = "00000000-0000-4000-8000-000000000bad"
    cases = [
        (cloud.admin, "POST", "/acl/domains", {"name": "x", "parent_id": missing}, 404),
        (cloud.admin, "POST", "/acl/domains", {"name": "a/b", "parent_id": east["id"]}, 422),
        (
            cloud.admin,
            "POST",
            "/acl/domains",
            {"name": "east", "parent_id": str(rules.ROOT_DOMAIN)},
            409,
        ),
        (
            cloud.admin,
            "POST",
            "/acl/accounts",
            {"name": "x", "domain_id": east["id"], "role_id": missing},
            404,
        ),
        (
            cloud.admin,
            "POST",
            "/acl/users",
            {"account_id": missing, "username": "x", "password": "longenough"},
            404,
        ),
        (
            cloud.admin,
            "POST",
            "/acl/roles",
            {"name": "r", "type": "User", "rules": [{"rule": "vm destroy", "permission": "allow"}]},
            422,
        ),
        (cloud.admin, "POST", "/acl/roles", {"name": "r", "type": "Superuser"}, 422),
        (cloud.admin, "PUT", f"/acl/roles/{rules.ROOT_ADMIN}/rules", {"rules": []}, 403),
        (cloud.admin, "PATCH", f"/acl/accounts/{rules.ADMIN_ACCOUNT}", {"state": "Disabled"}, 403),
        (user, "POST", "/acl/domains", {"name": "mine", "parent_id": east["id"]}, 403),
        (user, "POST", "/acl/roles", {"name": "mine", "type": "Admin"}, 403),
        # A domain admin makes no root admins, and nothing outside its subtree.
        (
            east_admin,
            "POST",
            "/acl/accounts",
            {"name": "boss", "domain_id": east["id"], "role_id": str(rules.ROOT_ADMIN)},
            422,
        ),
        (
            east_admin,
            "POST",
            "/acl/domains",
            {"name": "x", "parent_id": str(rules.ROOT_DOMAIN)},
            404,
        ),
    ]
    for client, method, path, body, status in cases:
        r = await client.request(method, path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await table_counts(db) == before
    made = await ok(
        await east_admin.post("/acl/domains", json={"name": "dev", "parent_id": east["id"]}), 201
    )
    assert made["path"] == "ROOT/east/dev"
    assert {d["path"] for d in await ok(await east_admin.get("/acl/domains"))} == {
        "ROOT/east",
        "ROOT/east/dev",
    }
    assert len(await ok(await user.get("/acl/accounts"))) == 1
