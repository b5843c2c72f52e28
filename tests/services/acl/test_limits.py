"""Resource limits (ACL service): 50 concurrent deploys by one account with a VM limit of
10 leave exactly 10; the usage equals the live count; destroying one frees one; a
domain's limit bounds its sub-domains; a limit set below usage is kept and reported."""

from __future__ import annotations

import asyncio
from typing import Any

from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, unique, wait_operation
from tests.services.acl.conftest import Cloud
from tests.workflows.vm_helpers import vm_zone


def _body(fab: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": unique("vm"),
        "zone_id": fab["zone"]["id"],
        "service_offering_id": fab["offering"]["id"],
        "template_id": fab["template"]["id"],
        "start": False,
    }


async def _usage(cloud: Cloud, kind: str, target: str, resource: str) -> dict[str, Any]:
    limits = await ok(await cloud.admin.get(f"/acl/{kind}/{target}/limits"))
    return next(x for x in limits if x["resource"] == resource)  # type: ignore[no-any-return]


async def _live_vms(db: Database, owner: str) -> int:
    async with db.conn() as conn:
        n: int = await conn.fetchval(
            """SELECT count(*) FROM vms WHERE owner = $1
               AND state NOT IN ('Destroyed', 'Expunging', 'Expunged', 'Error')""",
            owner,
        )
    return n


async def test_50_concurrent_deploys_against_a_limit_of_10(
    platform: Platform, cloud: Cloud, db: Database
) -> None:
    fab = await vm_zone(cloud.admin, hosts=1, network=False)
    domain = await cloud.domain("east")
    acct, client = await cloud.principal(domain["id"])
    limit = await ok(
        await cloud.admin.put(f"/acl/accounts/{acct['id']}/limits/vm", json={"max": 10})
    )
    assert limit == {"resource": "vm", "max": 10, "used": 0, "exceeded": False}

    answers = await asyncio.gather(*(client.post("/vms", json=_body(fab)) for _ in range(50)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 10 + [409] * 40, codes
    refusals = [r.json() for r in answers if r.status_code == 409]
    assert {p["type"].rsplit("/", 1)[-1] for p in refusals} == {"limit-exceeded"}
    assert "may hold 10 vm" in refusals[0]["detail"]
    for r in answers:
        if r.status_code == 202:
            op = await wait_operation(client, r.json()["operation"]["id"])
            assert op["state"] == "succeeded", op
    assert await _live_vms(db, acct["id"]) == 10
    assert (await _usage(cloud, "accounts", acct["id"], "vm"))["used"] == 10
    assert (await _usage(cloud, "accounts", acct["id"], "cpu"))["used"] == 10  # 1 vCPU each

    # Destroying one frees one: the next deploy fits, the one after does not.
    vm_id = next(r.json()["resource"]["id"] for r in answers if r.status_code == 202)
    destroyed = await ok(await client.post(f"/vms/{vm_id}/destroy"), 202)
    assert (await wait_operation(client, destroyed["operation"]["id"]))["state"] == "succeeded"
    assert (await _usage(cloud, "accounts", acct["id"], "vm"))["used"] == 9
    await ok(await client.post("/vms", json=_body(fab)), 202)
    r = await client.post("/vms", json=_body(fab))
    assert r.status_code == 409, r.text
    assert await _live_vms(db, acct["id"]) == 10


async def test_a_domain_limit_bounds_its_subdomains_and_one_below_usage_is_reported(
    platform: Platform, cloud: Cloud, db: Database
) -> None:
    fab = await vm_zone(cloud.admin, hosts=1, network=False)
    east = await cloud.domain("east")
    dev = await cloud.domain("dev", parent=east["id"])
    a_acct, a = await cloud.principal(east["id"])
    b_acct, b = await cloud.principal(dev["id"])
    await ok(await cloud.admin.put(f"/acl/domains/{east['id']}/limits/vm", json={"max": 3}))
    for client in (a, b, b):
        await ok(await client.post("/vms", json=_body(fab)), 202)
    r = await b.post("/vms", json=_body(fab))  # dev has no limit of its own; east does
    assert r.status_code == 409 and "domain ROOT/east may hold 3 vm" in r.json()["detail"], r.text
    assert (await _usage(cloud, "domains", east["id"], "vm"))["used"] == 3
    assert (await _usage(cloud, "domains", dev["id"], "vm"))["used"] == 2

    # A limit below what the account holds is kept, and reported as exceeded.
    r = await cloud.admin.put(f"/acl/accounts/{b_acct['id']}/limits/vm", json={"max": 1})
    assert await ok(r) == {"resource": "vm", "max": 1, "used": 2, "exceeded": True}
    await ok(await cloud.admin.put(f"/acl/domains/{east['id']}/limits/vm", json={"max": -1}))
    r = await b.post("/vms", json=_body(fab))
    assert r.status_code == 409 and "account may hold 1 vm" in r.json()["detail"], r.text
    await ok(await a.post("/vms", json=_body(fab)), 202)  # a has no limit of its own
    assert await _live_vms(db, a_acct["id"]) == 2


async def test_limits_refuse_bad_input_and_are_the_administrators(
    cloud: Cloud, db: Database
) -> None:
    east = await cloud.domain("east")
    acct, user = await cloud.principal(east["id"])
    r = await cloud.admin.put(f"/acl/accounts/{acct['id']}/limits/unicorns", json={"max": 1})
    assert r.status_code == 422 and "not a limited resource" in r.json()["detail"], r.text
    r = await cloud.admin.put(f"/acl/accounts/{acct['id']}/limits/vm", json={"max": -2})
    assert r.status_code == 422, r.text
    r = await user.put(f"/acl/accounts/{acct['id']}/limits/vm", json={"max": 100})
    assert r.status_code == 403, r.text  # a user does not set its own limits
    assert (await _usage(cloud, "accounts", acct["id"], "vm"))["max"] == -1
    own = await ok(await user.get(f"/acl/accounts/{acct['id']}/limits"))
    assert {x["resource"] for x in own} >= {"vm", "cpu", "memory", "volume", "public_ip"}
