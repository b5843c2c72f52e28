"""The SDK's checks against a running platform, with nothing but the SDK installed
(``pip install strato``, no pytest): run by tests/system/test_up.py on a fresh venv
against a real ``strato up``. The in-process suite (tests/sdk/test_client.py) checks the
same behaviours against the app in the test's process.

    python tests/sdk/live_suite.py ZONE       (API and key as the SDK finds them)

Prints ``{"passed": [...]}``; a failed check raises (exit status 1, its message).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

from strato.sdk import (
    AsyncStratoClient,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OperationFailed,
    StratoClient,
    Unauthorized,
    WaitTimeout,
)

TAG = uuid.uuid4().hex[:6]


def raises(kind: type[Exception], call: Callable[[], Any]) -> Exception:
    try:
        call()
    except kind as err:
        return err
    raise AssertionError(f"expected {kind.__name__}")


def pages_and_crud(api: StratoClient, zone_name: str) -> None:
    made = [api.zones.create(name=f"live-{TAG}-{i}") for i in range(3)]
    first = api.zones.page(limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"], first
    listed = [z["id"] for z in api.zones.list()]
    assert {z["id"] for z in made} <= set(listed) and len(listed) == len(set(listed))
    assert api.zones.find(name=f"live-{TAG}-2")["id"] == made[2]["id"]
    api.zones.update(made[0]["id"], name=f"live-{TAG}-renamed")
    assert api.zones.get(made[0]["id"])["name"] == f"live-{TAG}-renamed"
    for z in made:
        api.zones.delete(z["id"])
    gone = raises(NotFound, lambda: api.zones.get(made[0]["id"]))
    assert getattr(gone, "status", None) == 404


def typed_refusals(api: StratoClient, zone_name: str) -> None:
    zone = api.zones.find(name=zone_name)
    bad = raises(InvalidInput, lambda: api.zones.create(name=""))
    assert getattr(bad, "status", None) == 422 and "name" in str(bad)
    taken = raises(Conflict, lambda: api.zones.create(name=zone_name))
    assert getattr(taken, "code", None) == "name-taken"
    raises(NotFound, lambda: api.vms.act(str(uuid.uuid4()), "start"))
    base = str(api.http.base_url)
    with StratoClient(base, "strato_not-a-key") as stranger:
        raises(Unauthorized, lambda: stranger.zones.page())
    reader = api.api_keys.create(name=f"live-ro-{TAG}", scope="read")
    with StratoClient(base, reader["token"]) as ro:
        assert ro.zones.get(zone["id"])["id"] == zone["id"]
        raises(Forbidden, lambda: ro.zones.create(name=f"live-{TAG}-x"))


def operations_waited(api: StratoClient, zone_name: str) -> None:
    zone = api.zones.find(name=zone_name)
    offering = api.service_offerings.find(name="small")
    template = api.templates.find(name="tiny-linux")
    seen: list[int] = []
    accepted = api.vms.create(
        name=f"live-{TAG}",
        zone_id=zone["id"],
        service_offering_id=offering["id"],
        template_id=template["id"],
        idempotency_key=f"live-{TAG}",
    )
    again = api.vms.create(
        name=f"live-{TAG}",
        zone_id=zone["id"],
        service_offering_id=offering["id"],
        template_id=template["id"],
        idempotency_key=f"live-{TAG}",
    )
    assert again["operation"]["id"] == accepted["operation"]["id"]  # the key's first answer
    op = api.wait(accepted, on_change=lambda o: seen.append(o["progress"]))
    assert op["state"] == "succeeded" and seen and seen[-1] == 100 and seen == sorted(seen)
    vm = api.wait_for(api.vms, accepted["resource"]["id"], "Running", timeout=60)
    raises(WaitTimeout, lambda: api.wait_for(api.vms, vm["id"], "Stopped", timeout=0.5))
    huge = api.service_offerings.create(
        name=f"live-huge-{TAG}", cpu_count=1, cpu_speed_mhz=1000, memory_mb=10_000_000
    )
    failing = api.vms.create(
        name=f"live-f-{TAG}",
        zone_id=zone["id"],
        service_offering_id=huge["id"],
        template_id=template["id"],
    )
    failed = raises(OperationFailed, lambda: api.wait(failing))
    assert getattr(failed, "operation", {}).get("error"), failed
    api.wait(api.vms.act(vm["id"], "destroy", {"expunge": True}))
    assert api.vms.get(vm["id"])["state"] == "Expunged"


async def the_async_client(zone_name: str) -> None:
    async with AsyncStratoClient.from_env() as api:
        zone = await api.zones.find(name=zone_name)
        names = [z["name"] async for z in api.zones.list()]
        assert zone_name in names
        try:
            await api.zones.get(str(uuid.uuid4()))
        except NotFound:
            pass
        else:
            raise AssertionError("expected NotFound")
        found = await api.discover("api")
        assert found and found[0]["url"].startswith("http"), found
        assert (await api.zones.get(zone["id"]))["name"] == zone_name


def main(zone_name: str) -> int:
    passed = []
    with StratoClient.from_env() as api:
        for check in (pages_and_crud, typed_refusals, operations_waited):
            check(api, zone_name)
            passed.append(check.__name__)
    asyncio.run(the_async_client(zone_name))
    passed.append("the_async_client")
    print(json.dumps({"passed": passed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo"))
