"""Example (b): a managed service on the simulated fleet that scales from 2 to 6
instances on a synthetic metric, and back. Only the SDK (``pip install strato``) and a
platform (``make run``) are needed.

    python examples/services/autoscale.py [ZONE]        (default: demo)

It deploys ``echo`` (2 to 6 instances of tiny-linux, a TCP health check, autoscale on
a custom metric ``load``: out above 70, in below 20, 2 at a time, 2 s cooldown), waits
for 2 serving, reports load 95 until 6 serve, then load 5 until 2 serve, and removes
the service. Prints one JSON object: the timeline (seconds from the deploy) and the
service's scale events.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

from strato.sdk import ApiError, NotFound, StratoClient

NAME = f"echo-{uuid.uuid4().hex[:6]}"


def definition(api: StratoClient, zone_name: str) -> dict[str, Any]:
    zone = api.zones.find(name=zone_name)
    return {
        "name": NAME,
        "release": "1.0",
        "description": "an echo service, scaled on the load it reports",
        "zone_id": zone["id"],
        "template_id": api.templates.find(name="tiny-linux")["id"],
        "service_offering_id": api.service_offerings.find(name="small")["id"],
        "network_ids": [api.networks.find(name=f"{zone_name}-guest")["id"]],
        "min_instances": 2,
        "max_instances": 6,
        "health": {"kind": "tcp", "port": 7, "interval_s": 1, "grace_s": 60},
        "metrics": ["load"],
        "autoscale": {
            "metric": "custom:load",
            "scale_out_above": 70,
            "scale_in_below": 20,
            "step": 2,
            "cooldown_s": 2,
        },
    }


def serving(api: StratoClient, svc_id: str) -> tuple[int, int]:
    """(instances serving, instances in all) of the service now."""
    st = api.get(f"/managed-services/{svc_id}/status")
    good = [i for i in st["instances"] if i["health"] == "passing" and i["vm_state"] == "Running"]
    return len(good), len(st["instances"])


def until_serving(
    api: StratoClient, svc_id: str, n: int, load: float | None, timeout_s: float = 180
) -> None:
    """Until exactly ``n`` serve and nothing else is there, reporting ``load`` meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if load is not None:
            api.post(f"/managed-services/{svc_id}/metrics", {"name": "load", "value": load})
        good, total = serving(api, svc_id)
        if good == total == n:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{NAME}: not {n} serving after {timeout_s:g} s")


def main(zone_name: str) -> int:
    with StratoClient.from_env() as api:
        start = time.monotonic()
        timeline: dict[str, float] = {}
        svc = api.managed_services.create(definition(api, zone_name))
        try:
            until_serving(api, svc["id"], 2, None)
            timeline["2 serving"] = round(time.monotonic() - start, 1)
            until_serving(api, svc["id"], 6, 95)
            timeline["6 serving (load 95)"] = round(time.monotonic() - start, 1)
            listed = len(api.discover(NAME))
            until_serving(api, svc["id"], 2, 5)
            timeline["2 serving (load 5)"] = round(time.monotonic() - start, 1)
        finally:
            api.managed_services.delete(svc["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                api.managed_services.get(svc["id"])
            except NotFound:
                break
            time.sleep(0.5)
        timeline["removed"] = round(time.monotonic() - start, 1)
        scaled = [
            e["data"]
            for e in api.get("/events", resource_id=svc["id"], limit=1000)["items"]
            if e["type"] == "strato.managed_service.scaled"
        ]
        print(
            json.dumps(
                {"service": NAME, "timeline": timeline, "listed_at_6": listed, "scaled": scaled}
            )
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo"))
    except (ApiError, TimeoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
