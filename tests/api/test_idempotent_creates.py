"""Idempotency-Key on the changes that create at once (201): a public IP and its rules.
The same key with the same request answers as the first time and changes nothing, even
sent many times at once; with another request it is a 409 that changes nothing."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.test_guest_networks import guest_zone, running_on


async def test_a_repeated_key_gives_the_same_ip_and_rule_once(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await guest_zone(api)
    net = fab["network"]["id"]
    vm = await running_on(api, fab, net)
    body = {"zone_id": fab["zone"]["id"], "network_id": net}
    key = {"Idempotency-Key": f"ip-{uuid.uuid4()}"}
    before = await table_counts(db)
    answers = await asyncio.gather(
        *(api.post("/public-ips", json=body, headers=key) for _ in range(5))
    )
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1  # one address, five times
    ip = answers[0].json()
    async with db.conn() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM public_ips WHERE network_id = $1 AND NOT source_nat",
            uuid.UUID(net),
        )
    assert held == 1
    # the key is the caller's own: another API key's same key is another request
    other_key = await ok(await api.post("/api-keys", json={"name": "other"}), 201)
    theirs = await api.post(
        "/public-ips",
        json=body,
        headers={**key, "Authorization": f"Bearer {other_key['token']}"},
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != ip["id"]

    pf = {"vm_id": vm["id"], "protocol": "tcp", "public_start": 2222, "private_start": 22}
    rule_key = {"Idempotency-Key": f"pf-{uuid.uuid4()}"}
    path = f"/public-ips/{ip['id']}/port-forwarding-rules"
    first = await api.post(path, json=pf, headers=rule_key)
    again = await api.post(path, json=pf, headers=rule_key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    # the same apply operation is named both times
    assert first.headers["Operation-Location"] == again.headers["Operation-Location"]
    rules = (await ok(await api.get(path)))["items"]
    assert [r["id"] for r in rules] == [first.json()["id"]]
    # without the key the same rule is a clash, as before
    assert (await api.post(path, json=pf)).status_code == 409

    # the key with another request: 409, nothing changed (once the apply has ended)
    applying = first.headers["Operation-Location"].rsplit("/", 1)[1]
    assert (await wait_operation(api, applying))["state"] == "succeeded"
    middle = await table_counts(db)
    other = await api.post(path, json={**pf, "public_start": 2223}, headers=rule_key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert await table_counts(db) == middle
    assert middle["request_keys"] == before["request_keys"] + 3
