"""Per-account views (ACL service): two accounts in two domains each see only their own
VMs, volumes, networks, events and operations; another account's resource is a 404; a
domain admin sees its subtree; admin-only resources are invisible to users; a read-only
user reads and cannot write; a revoked key is refused on its next request; a rule
denying vm.destroy refuses exactly that."""

from __future__ import annotations

from typing import Any

import httpx

from strato.schema.db import Database
from strato.services.acl import rules
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.services.acl.conftest import Cloud
from tests.workflows.vm_helpers import vm_zone


async def _deploy(client: httpx.AsyncClient, fab: dict[str, Any]) -> dict[str, Any]:
    body = {
        "name": unique("vm"),
        "zone_id": fab["zone"]["id"],
        "service_offering_id": fab["offering"]["id"],
        "template_id": fab["template"]["id"],
        "network_ids": [fab["network"]["id"]],
    }
    accepted: dict[str, Any] = await ok(await client.post("/vms", json=body), 202)
    op = await wait_operation(client, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    return accepted["resource"]  # type: ignore[no-any-return]


async def _ids(client: httpx.AsyncClient, path: str) -> set[str]:
    body = await ok(await client.get(path))
    items = body["items"] if isinstance(body, dict) else body
    return {i["id"] for i in items}


async def test_accounts_see_only_their_own_and_a_domain_admin_its_subtree(
    platform: Platform, cloud: Cloud
) -> None:
    fab = await vm_zone(cloud.admin, hosts=1)
    east = await cloud.domain("east")
    west = await cloud.domain("west")
    dev = await cloud.domain("dev", parent=east["id"])
    alice_acct, alice = await cloud.principal(east["id"])
    bob_acct, bob = await cloud.principal(west["id"])
    _, carol = await cloud.principal(dev["id"])
    _, east_admin = await cloud.principal(east["id"], rules.DOMAIN_ADMIN)

    vm_a = await _deploy(alice, fab)
    vm_b = await _deploy(bob, fab)
    vm_c = await _deploy(carol, fab)
    assert vm_a["owner"] == alice_acct["id"]  # made as the caller's account
    assert vm_b["owner"] == bob_acct["id"]
    vol_a = await ok(
        await alice.post(
            "/volumes", json={"name": unique("v"), "zone_id": fab["zone"]["id"], "size_gb": 1}
        ),
        201,
    )
    vm_admin = await _deploy(cloud.admin, fab)

    assert await _ids(alice, "/vms") == {vm_a["id"]}
    assert await _ids(bob, "/vms") == {vm_b["id"]}
    assert await _ids(east_admin, "/vms") == {vm_a["id"], vm_c["id"]}  # east and east/dev
    assert {vm_a["id"], vm_b["id"], vm_c["id"], vm_admin["id"]} <= await _ids(cloud.admin, "/vms")
    assert await _ids(alice, "/volumes") == {vol_a["id"], *await _root_volumes(alice)}
    assert await _ids(bob, "/volumes") == await _root_volumes(bob)

    # Another account's resource is a 404 (as a missing one), for reads and for writes.
    for path in (f"/vms/{vm_b['id']}", f"/volumes/{vol_a['id']}", f"/vms/{vm_b['id']}/nics"):
        r = await (bob if "vol" in path else alice).get(path)
        if path.startswith("/volumes"):
            r = await bob.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "does not exist" in r.json()["detail"]
    r = await alice.post(f"/vms/{vm_b['id']}/stop")
    assert r.status_code == 404, r.text
    r = await east_admin.post(f"/vms/{vm_b['id']}/stop")
    assert r.status_code == 404, r.text
    # Making a resource for an owner it does not see is refused.
    body = {"name": unique("v"), "zone_id": fab["zone"]["id"], "size_gb": 1}
    r = await alice.post("/volumes", json={**body, "owner": bob_acct["id"]})
    assert r.status_code == 403, r.text

    # The zone's shared network is every account's to deploy on, and to see.
    assert fab["network"]["id"] in await _ids(bob, "/networks")

    # Events and operations: only its own resources'.
    events = (await ok(await alice.get("/events", params={"limit": 1000})))["items"]
    about = {e["data"].get("name") for e in events} | {e.get("subject") for e in events}
    assert events and vm_b["id"] not in str(events) and vm_admin["id"] not in str(events)
    assert vm_a["id"] in str(events), about
    ops = await ok(await alice.get("/operations", params={"limit": 100}))
    assert ops and {o["resource_id"] for o in ops} <= {vm_a["id"], vol_a["id"]}
    bob_ops = await ok(await bob.get("/operations", params={"resource_id": vm_b["id"]}))
    r = await alice.get(f"/operations/{bob_ops[0]['id']}")
    assert r.status_code == 404, r.text

    # Admin-only resources are invisible to users (and to domain admins).
    for client in (alice, east_admin):
        for path in (
            "/hosts",
            f"/hosts/{fab['hosts'][0]['id']}",
            "/pods",
            "/clusters",
            "/storage-pools",
            "/physical-networks",
            "/webhooks",
            "/api-keys",
        ):
            r = await client.get(path)
            assert r.status_code == 404, (path, r.text)
    r = await alice.post("/zones", json={"name": unique("z")})
    assert r.status_code == 403, r.text
    assert await ok(await alice.get("/zones"))  # the catalog is everyone's


async def _root_volumes(client: httpx.AsyncClient) -> set[str]:
    vms = (await ok(await client.get("/vms")))["items"]
    return {v["root_volume_id"] for v in vms}


async def test_read_only_revoked_and_a_rule_denying_vm_destroy(
    platform: Platform, cloud: Cloud, db: Database
) -> None:
    fab = await vm_zone(cloud.admin, hosts=1)
    east = await cloud.domain("east")
    acct, user_client = await cloud.principal(east["id"])
    vm = await _deploy(user_client, fab)

    # A read-only user of the same account reads the account's VMs, and cannot mutate.
    ro_user = await cloud.user(acct["id"])
    ro_acct = await cloud.account(east["id"], rules.READ_ONLY)
    ro_user = await cloud.user(ro_acct["id"])
    ro = cloud.signed(await cloud.key(ro_user["id"]))
    assert await ok(await ro.get("/vms")) == {"items": [], "next_cursor": None}
    before = await table_counts(db)
    for method, path, body in (
        ("POST", "/vms", {"name": "x", "zone_id": fab["zone"]["id"]}),
        ("POST", "/volumes", {"name": "x", "zone_id": fab["zone"]["id"], "size_gb": 1}),
        ("POST", "/acl/domains", {"name": "x", "parent_id": east["id"]}),
    ):
        r = await ro.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
    assert await table_counts(db) == before

    # A role that denies vm.destroy, and nothing else: exactly that is refused.
    user_role = await ok(await cloud.admin.get(f"/acl/roles/{rules.USER}"))
    role = await ok(
        await cloud.admin.post(
            "/acl/roles",
            json={
                "name": unique("nodestroy"),
                "type": "User",
                "rules": [{"rule": "vm.destroy", "permission": "deny"}, *user_role["rules"]],
            },
        ),
        201,
    )
    await ok(await cloud.admin.patch(f"/acl/accounts/{acct['id']}", json={"role_id": role["id"]}))
    r = await user_client.post(f"/vms/{vm['id']}/destroy")
    assert r.status_code == 403 and "vm.destroy" in r.json()["detail"], r.text
    stopped = await ok(await user_client.post(f"/vms/{vm['id']}/stop"), 202)
    assert (await wait_operation(user_client, stopped["operation"]["id"]))["state"] == "succeeded"
    vm_now = await ok(await user_client.get(f"/vms/{vm['id']}"))
    assert vm_now["state"] == "Stopped"

    # A revoked key is refused on the very next request.
    key = await cloud.key((await cloud.user(acct["id"]))["id"])
    client = cloud.signed(key)
    await ok(await client.get("/vms"))
    await ok(await cloud.admin.delete(f"/acl/keys/{key['id']}"), 204)
    r = await client.get("/vms")
    assert r.status_code == 401 and "revoked" in r.json()["detail"], r.text

    # A disabled account's users are refused at once.
    await ok(await cloud.admin.patch(f"/acl/accounts/{acct['id']}", json={"state": "Disabled"}))
    r = await user_client.get("/vms")
    assert r.status_code == 401 and "account is disabled" in r.json()["detail"], r.text
