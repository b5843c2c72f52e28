"""Strato's SDK in a few lines: deploy a VM by names, watch its operation's progress,
stop it and expunge it. Needs only the SDK (``pip install strato``, no extras) and a
platform (``make run``); the API URL and key come from STRATO_API_URL / STRATO_API_KEY
or the client config ``strato up`` wrote (STRATO_DATA_DIR).

    python examples/sdk/quickstart.py [ZONE]        (default: demo)

Prints one JSON object: the VM, the steps its deploy went through, its states.
"""

from __future__ import annotations

import json
import sys
import uuid

from strato.sdk import ApiError, OperationFailed, StratoClient


def main(zone_name: str) -> int:
    with StratoClient.from_env() as api:
        zone = api.zones.find(name=zone_name)
        offering = api.service_offerings.find(name="small")
        template = api.templates.find(name="tiny-linux")
        accepted = api.vms.create(
            name=f"quickstart-{uuid.uuid4().hex[:6]}",
            zone_id=zone["id"],
            service_offering_id=offering["id"],
            template_id=template["id"],
        )
        steps: list[str] = []
        api.wait(accepted, on_change=lambda op: steps.append(f"{op['step']} {op['progress']}%"))
        vm = api.wait_for(api.vms, accepted["resource"]["id"], "Running", timeout=60)
        states = [vm["state"]]
        api.wait(api.vms.act(vm["id"], "stop"))
        states.append(api.vms.get(vm["id"])["state"])
        api.wait(api.vms.act(vm["id"], "destroy", {"expunge": True}))
        states.append(api.vms.get(vm["id"])["state"])
        print(json.dumps({"vm": vm["id"], "name": vm["name"], "steps": steps, "states": states}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo"))
    except (ApiError, OperationFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
