"""Tenancy holes closed (found in review): an end user cannot change a shared network,
point a port forward or static NAT at another account's VM, join another account's
affinity group, make shared networks, recover a VM past its limit; a domain admin cannot
climb to root or change its own account; deleted resources' events stay their owner's;
only an upload may leave its body unsigned."""

from __future__ import annotations

from strato.schema.db import Database
from strato.sdk import signing
from strato.services.acl import rules
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.services.acl.conftest import Cloud
from tests.workflows.test_guest_networks import guest_zone, isolated, running_on


async def test_end_users_stay_inside_their_account(
    platform: Platform, cloud: Cloud, db: Database
) -> None:
    fab = await guest_zone(cloud.admin, hosts=1)
    shared = await ok(
        await cloud.admin.post(
            "/networks",
            json={"zone_id": fab["zone"]["id"], "name": unique("shared"), "cidr": "10.30.0.0/24",
                  "gateway": "10.30.0.1", "ip_start": "10.30.0.10", "ip_end": "10.30.0.99"},
        ),
        201,
    )  # fmt: skip
    east = await cloud.domain("east")
    alice_acct, alice = await cloud.principal(east["id"])
    bob_acct, bob = await cloud.principal(east["id"])
    a_net = await isolated(alice, fab, "10.80.0.0/24")
    b_net = await isolated(bob, fab, "10.81.0.0/24")
    assert (a_net["owner"], b_net["owner"]) == (alice_acct["id"], bob_acct["id"])
    b_vm = await running_on(bob, fab, b_net["id"])
    before = await table_counts(db)

    # A shared network is everyone's to use and see, and the cloud's to change.
    await ok(await alice.get(f"/networks/{shared['id']}"))
    for path, body in (
        (f"/networks/{shared['id']}/restart", {}),
        (f"/networks/{shared['id']}/shutdown", None),
        (f"/networks/{shared['id']}/egress-rules", {"protocol": "tcp", "start_port": 80}),
    ):
        r = await alice.post(path, json=body)
        assert r.status_code == 404, (path, r.text)
    r = await alice.delete(f"/networks/{shared['id']}")
    assert r.status_code == 404, r.text
    r = await alice.post(
        "/networks",
        json={"zone_id": fab["zone"]["id"], "name": "mine", "cidr": "10.31.0.0/24",
              "gateway": "10.31.0.1", "ip_start": "10.31.0.10", "ip_end": "10.31.0.99"},
    )  # fmt: skip
    assert r.status_code == 403 and "isolated networks only" in r.json()["detail"], r.text
    # Another account's affinity group is no group of yours.
    group = await ok(
        await bob.post(
            "/affinity-groups", json={"name": unique("g"), "kind": "host-anti-affinity"}
        ),
        201,
    )
    r = await alice.post("/vms", json={
        "name": unique("vm"), "zone_id": fab["zone"]["id"], "template_id": fab["template"]["id"],
        "service_offering_id": fab["offering"]["id"], "affinity_group_ids": [group["id"]],
    })  # fmt: skip
    assert r.status_code == 422 and "does not exist" in r.json()["detail"], r.text
    after = await table_counts(db)
    assert after["vms"] == before["vms"]
    assert after["vm_affinity_groups"] == before["vm_affinity_groups"]

    # A public IP forwards to its own account's VMs only.
    ip = await ok(
        await alice.post(
            "/public-ips", json={"zone_id": fab["zone"]["id"], "network_id": a_net["id"]}
        ),
        201,
    )
    forward = {"protocol": "tcp", "public_start": 80, "private_start": 80, "vm_id": b_vm["id"]}
    r = await alice.post(f"/public-ips/{ip['id']}/port-forwarding-rules", json=forward)
    assert r.status_code == 422 and "not owned" in r.json()["detail"], r.text
    r = await alice.post(f"/public-ips/{ip['id']}/static-nat", json={"vm_id": b_vm["id"]})
    assert r.status_code == 422 and "not owned" in r.json()["detail"], r.text
    released = await alice.delete(f"/public-ips/{ip['id']}")
    assert released.status_code in (200, 202, 204), released.text
    async with db.conn() as conn:
        owner = await conn.fetchval(
            """SELECT owner FROM events
               WHERE type = 'strato.public_ip.released' AND resource_id = $1""",
            ip["id"],
        )
    assert owner == alice_acct["id"]  # its release is still alice's (and her usage ends)


async def test_a_domain_admin_cannot_climb(cloud: Cloud) -> None:
    root_user = await cloud.user(str(rules.ADMIN_ACCOUNT))
    boss_acct, boss = await cloud.principal(str(rules.ROOT_DOMAIN), rules.DOMAIN_ADMIN)
    cases = [
        ("POST", "/acl/users", {"account_id": str(rules.ADMIN_ACCOUNT), "username": "me2",
                                "password": "long enough pw"}),
        ("POST", f"/acl/users/{root_user['id']}/keys", {}),
        ("PATCH", f"/acl/users/{root_user['id']}", {"password": "taken over now"}),
        ("PATCH", f"/acl/accounts/{boss_acct['id']}", {"role_id": str(rules.DOMAIN_ADMIN)}),
        ("PUT", f"/acl/accounts/{boss_acct['id']}/limits/vm", {"max": 1000}),
        ("POST", "/acl/accounts", {"name": "peer", "domain_id": str(rules.ROOT_DOMAIN),
                                   "role_id": str(rules.DOMAIN_ADMIN)}),
    ]  # fmt: skip
    for method, path, body in cases:
        r = await boss.request(method, path, json=body)
        assert r.status_code in (403, 422), (path, r.text)
    # What it may do: accounts, users and limits of its domain's users.
    team = {"name": "team", "domain_id": str(rules.ROOT_DOMAIN), "role_id": str(rules.USER)}
    acct = await ok(await boss.post("/acl/accounts", json=team), 201)
    await ok(await boss.put(f"/acl/accounts/{acct['id']}/limits/vm", json={"max": 3}))


async def test_limits_hold_through_recover_and_deletes_stay_visible(
    platform: Platform, cloud: Cloud
) -> None:
    fab = await guest_zone(cloud.admin, hosts=1)
    east = await cloud.domain("east")
    acct, alice = await cloud.principal(east["id"])
    await ok(await cloud.admin.put(f"/acl/accounts/{acct['id']}/limits/vm", json={"max": 1}))
    body = {"zone_id": fab["zone"]["id"], "template_id": fab["template"]["id"],
            "service_offering_id": fab["offering"]["id"], "start": False}  # fmt: skip
    first = await ok(await alice.post("/vms", json={"name": unique("vm"), **body}), 202)
    await wait_operation(alice, first["operation"]["id"])
    gone = await ok(await alice.post(f"/vms/{first['resource']['id']}/destroy"), 202)
    assert (await wait_operation(alice, gone["operation"]["id"]))["state"] == "succeeded"
    await ok(await alice.post("/vms", json={"name": unique("vm"), **body}), 202)
    r = await alice.post(f"/vms/{first['resource']['id']}/recover")
    assert r.status_code == 409 and "may hold 1 vm" in r.json()["detail"], r.text

    pair = await ok(await alice.post("/ssh-key-pairs", json={"name": "k"}), 201)
    await ok(await alice.delete(f"/ssh-key-pairs/{pair['id']}"), 204)
    seen = await ok(
        await alice.get("/events", params={"type": "strato.ssh_key_pair", "limit": 100})
    )
    assert [e["type"] for e in seen["items"]] == [
        "strato.ssh_key_pair.created",
        "strato.ssh_key_pair.deleted",
    ]


async def test_only_an_upload_leaves_its_body_unsigned(cloud: Cloud) -> None:
    east = await cloud.domain("east")
    acct = await cloud.account(east["id"])
    key = await cloud.key((await cloud.user(acct["id"]))["id"])
    raw = cloud.client()
    headers = signing.sign_headers(key["access_key"], key["secret_key"], "POST",
                                   "/api/v1/acl/domains", [], None)  # fmt: skip
    r = await raw.post("/acl/domains", json={"name": "x", "parent_id": east["id"]}, headers=headers)
    assert r.status_code == 401 and "must be the body's SHA-256" in r.json()["detail"], r.text
    headers = signing.sign_headers(
        key["access_key"], key["secret_key"], "GET", "/api/v1/vms", [], b""
    )
    sent: dict[str, str | bytes] = {**headers}
    sent["Authorization"] = (headers["Authorization"][:-4] + "\u00e9" * 4).encode("latin-1")
    r = await raw.get("/vms", headers=sent)  # not ASCII: a 401, not a 500
    assert r.status_code == 401, r.text


async def test_networks_templates_and_acl_reads_of_an_end_user(
    platform: Platform, cloud: Cloud, db: Database
) -> None:
    fab = await guest_zone(cloud.admin, hosts=1)
    zone = fab["zone"]["id"]
    private = await ok(
        await cloud.admin.post(
            "/templates", json={"name": unique("priv"), "size_bytes": 1 << 30, "is_public": False}
        ),
        201,
    )
    east = await cloud.domain("east")
    acct, alice = await cloud.principal(east["id"])
    _, bob = await cloud.principal(east["id"])
    b_net = await isolated(bob, fab, "10.82.0.0/24")

    # The catalog holds the public templates only; a private one cannot be deployed.
    listed = {t["id"] for t in (await ok(await alice.get("/templates")))["items"]}
    assert fab["template"]["id"] in listed and private["id"] not in listed
    assert (await alice.get(f"/templates/{private['id']}")).status_code == 404
    vm = {"name": unique("vm"), "zone_id": zone, "service_offering_id": fab["offering"]["id"]}
    r = await alice.post("/vms", json={**vm, "template_id": private["id"]})
    assert r.status_code == 422, r.text
    # Another account's isolated network takes no NIC of hers.
    r = await alice.post(
        "/vms", json={**vm, "template_id": fab["template"]["id"], "network_ids": [b_net["id"]]}
    )
    assert r.status_code == 422, r.text

    # Her isolated network goes on the zone's guest physical network (its own VLAN).
    body = {"zone_id": zone, "name": unique("n"), "kind": "isolated", "cidr": "10.83.0.0/24"}
    mine = await ok(await alice.post("/networks", json=body), 201)
    assert mine["physical_network_id"] == fab["physical"]["id"] and mine["owner"] == acct["id"]
    r = await alice.post("/networks", json={**body, "name": unique("n"), "cidr": "10.0.0.0/8"})
    assert r.status_code == 422 and "at most a /16" in r.text, r.text
    r = await alice.post("/networks", json={**body, "name": unique("n"), "cidr": "10.82.0.0/25"})
    assert r.status_code == 409 and "another network" in r.text and b_net["name"] not in r.text
    # A public address goes on her own network, not the cloud's (shared or not).
    shared = {"zone_id": zone, "name": unique("s"), "cidr": "10.40.0.0/24",
              "gateway": "10.40.0.1", "ip_start": "10.40.0.10", "ip_end": "10.40.0.99"}  # fmt: skip
    shared_id = (await ok(await cloud.admin.post("/networks", json=shared), 201))["id"]
    r = await alice.post("/public-ips", json={"zone_id": zone, "network_id": shared_id})
    assert r.status_code == 422 and "not a network of yours" in r.text, r.text
    r = await alice.post("/public-ips", json={"zone_id": zone, "network_id": fab["network"]["id"]})
    assert r.status_code == 422 and "does not exist" in r.text, r.text

    # The ACL shows a user its own domain, not its usage or its directory.
    assert [d["path"] for d in await ok(await alice.get("/acl/domains"))] == ["ROOT/east"]
    for path in (f"/acl/domains/{east['id']}/limits", f"/acl/domains/{east['id']}/ldap"):
        r = await alice.get(path)
        assert r.status_code == 403, (path, r.text)
