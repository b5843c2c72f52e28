"""End users through the SDK alone, against a `strato up` with the ACL service on
(STRATO_SERVICES=acl): run by tests/system/test_up.py on a fresh venv. The cloud's
admin key (from client.json) makes a domain, an account and a user with a key pair;
the user, signing each request (HmacAuth), deploys in the demo zone, sees only its own
VM, is held to its limit, and is refused once its key is revoked.

    python tests/sdk/acl_suite.py ZONE

Prints ``{"passed": [...], "vm": ...}``; a failed check raises (exit status 1).
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from strato.sdk import Conflict, HmacAuth, NotFound, StratoClient, Unauthorized

ROOT_DOMAIN = "00000000-0000-4000-8000-00000000ac10"
USER_ROLE = "00000000-0000-4000-8000-00000000ac03"
TAG = uuid.uuid4().hex[:6]


def main(zone_name: str) -> int:
    passed: list[str] = []
    with StratoClient.from_env() as admin:
        url = str(admin.http.base_url)
        domain = admin.post("/acl/domains", {"name": f"sdk-{TAG}", "parent_id": ROOT_DOMAIN})
        account = admin.post(
            "/acl/accounts", {"name": "acme", "domain_id": domain["id"], "role_id": USER_ROLE}
        )
        user = admin.post(
            "/acl/users",
            {"account_id": account["id"], "username": "ann", "password": "a long password"},
        )
        key = admin.post(f"/acl/users/{user['id']}/keys", {"name": "sdk"})
        admin.request("PUT", f"/acl/accounts/{account['id']}/limits/vm", json={"max": 1})
        zone = admin.zones.find(name=zone_name)
        body: dict[str, Any] = {
            "zone_id": zone["id"],
            "service_offering_id": admin.service_offerings.find(name="small")["id"],
            "template_id": admin.templates.find(name="tiny-linux")["id"],
        }
        theirs = [v["id"] for v in admin.vms.list()]
        passed.append("admin made the user")

        with StratoClient(url, None, auth=HmacAuth(key["access_key"], key["secret_key"])) as me:
            who = me.get("/acl/whoami")
            assert who["account_id"] == account["id"], who
            accepted = me.vms.create(name=f"sdk-{TAG}", **body)
            vm = me.wait_for(me.vms, accepted["resource"]["id"], "Running", timeout=120)
            assert vm["owner"] == account["id"], vm
            assert [v["id"] for v in me.vms.list()] == [vm["id"]]
            for other in theirs[:3]:
                try:
                    me.vms.get(other)
                except NotFound:
                    continue
                raise AssertionError(f"the user sees VM {other}")
            passed.append("the user sees only its own")
            assert isinstance(me.get("/usage-records"), list)  # the usage service is on
            try:
                me.vms.create(name=f"sdk-{TAG}-2", **body)
            except Conflict as err:
                assert "may hold 1 vm" in str(err), err
            else:
                raise AssertionError("a second VM past the limit of 1")
            passed.append("the limit holds")
            me.wait(me.vms.act(vm["id"], "destroy", {"expunge": True}))
            admin.delete(f"/acl/keys/{key['id']}")
            try:
                me.get("/vms")
            except Unauthorized:
                passed.append("a revoked key is refused")
            else:
                raise AssertionError("a revoked key still works")
    print(json.dumps({"passed": passed, "vm": vm["id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo"))
