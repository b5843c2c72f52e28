"""``strato services deploy|status|scale|rollout|metric|remove|managed``: managed
services (definitions Strato runs as system VMs), over the REST API.

A definition file is YAML (or JSON). Its zone, template, offering and networks may be
named instead of given by id: ``zone: zone1`` for ``zone_id: <uuid>``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from strato.cli.common import resolve, with_json
from strato.cli.output import console, emit
from strato.sdk.client import StratoClient
from strato.sdk.errors import NotFound

PATH = "/managed-services"
_NAMED = {
    "zone": ("zone_id", "/zones"),
    "template": ("template_id", "/templates"),
    "service_offering": ("service_offering_id", "/service-offerings"),
}
_INSTANCE_COLUMNS = ("vm_id", "release", "health", "vm_state", "address", "failures", "detail")


def load_definition(api: StratoClient, file: Path) -> dict[str, Any]:
    """The file's definition, names resolved to ids."""
    text = file.read_text()
    if file.suffix == ".json":
        body = json.loads(text)
    else:
        import yaml  # the server extra has it; the SDK alone does not need it

        body = yaml.safe_load(text)
    if not isinstance(body, dict):
        raise SystemExit(f"{file}: a definition is a mapping (name, release, template, ...)")
    for key, (field, path) in _NAMED.items():
        if key in body:
            body[field] = resolve(api, path, str(body.pop(key)))["id"]
    if "networks" in body:
        body["network_ids"] = [
            resolve(api, "/networks", str(n))["id"] for n in body.pop("networks")
        ]
    return body


def _service(api: StratoClient, ident: str) -> dict[str, Any]:
    return resolve(api, PATH, ident)


def _wait_serving(api: StratoClient, svc_id: str, timeout_s: float, release: str | None) -> None:
    """Until every instance serves at the service's release and none is leaving."""
    deadline = time.monotonic() + timeout_s
    with console.status("waiting for the service to serve") as line:
        while True:
            st = api.get(f"{PATH}/{svc_id}/status")
            svc = st["service"]
            live = [i for i in st["instances"] if i["health"] != "retiring"]
            serving = [i for i in live if i["health"] == "passing" and i["vm_state"] == "Running"]
            want = release or svc["release"]
            line.update(
                f"{svc['name']} {want}: {len(serving)} of {svc['desired']} serving, "
                f"{len(st['instances']) - len(live)} leaving"
                + (f" ({svc['last_error']})" if svc.get("last_error") else "")
            )
            if (
                len(serving) == len(live) == svc["desired"]
                and len(live) == len(st["instances"])
                and all(i["release"] == want for i in live)
            ):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"{svc['name']}: not serving after {timeout_s:g} s")
            time.sleep(1)


def _wait_removed(api: StratoClient, svc_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            api.get(f"{PATH}/{svc_id}")
        except NotFound:
            return
        time.sleep(1)
    raise SystemExit(f"managed service {svc_id}: not removed after {timeout_s:g} s")


def cmd_managed(args: argparse.Namespace, api: StratoClient) -> bool:
    """Handle a managed-service action; False when ``args.action`` is not one."""
    act = args.action
    if act == "deploy":
        svc = api.post(PATH, load_definition(api, Path(args.file)))
        if args.wait:
            _wait_serving(api, svc["id"], args.timeout, None)
            svc = api.get(f"{PATH}/{svc['id']}")
        emit(svc, args.json)
    elif act == "managed":
        emit(api.get(PATH)["items"], args.json, ("name", "release", "state", "desired", "healthy"))
    elif act == "status":
        st = api.get(f"{PATH}/{_service(api, args.ident)['id']}/status")
        if args.json:
            emit(st, True)
        else:
            emit(st["service"], False)
            emit(st["instances"], False, _INSTANCE_COLUMNS)
    elif act == "scale":
        body = {
            k: v
            for k, v in (
                ("desired", args.desired),
                ("min_instances", args.min),
                ("max_instances", args.max),
            )
            if v is not None
        }
        svc = api.post(f"{PATH}/{_service(api, args.ident)['id']}/scale", body)
        if args.wait:
            _wait_serving(api, svc["id"], args.timeout, None)
        emit(svc, args.json)
    elif act == "rollout":
        change: dict[str, Any] = {"release": args.release}
        if args.template:
            change["template_id"] = resolve(api, "/templates", args.template)["id"]
        if args.offering:
            change["service_offering_id"] = resolve(api, "/service-offerings", args.offering)["id"]
        if args.max_unavailable is not None:
            change["max_unavailable"] = args.max_unavailable
        svc = api.post(f"{PATH}/{_service(api, args.ident)['id']}/rollout", change)
        if args.wait:
            _wait_serving(api, svc["id"], args.timeout, args.release)
        emit(svc, args.json)
    elif act == "metric":
        name, sep, value = args.pair.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {args.pair!r}")
        try:
            number = float(value)
        except ValueError:
            raise SystemExit(f"{value!r} is not a number") from None
        api.post(
            f"{PATH}/{_service(api, args.ident)['id']}/metrics", {"name": name, "value": number}
        )
    elif act == "remove":
        svc = api.delete(f"{PATH}/{_service(api, args.ident)['id']}")
        if args.wait:
            _wait_removed(api, svc["id"], args.timeout)
        emit(svc, args.json)
    else:
        return False
    return True


def add_actions(acts: Any) -> None:
    def waiting(p: argparse.ArgumentParser, default_s: float = 600) -> argparse.ArgumentParser:
        p.add_argument("--wait", action="store_true", help="until every instance serves")
        p.add_argument("--timeout", type=float, default=default_s, metavar="SECONDS")
        return p

    dep = waiting(with_json(acts.add_parser("deploy", help="deploy a managed service")))
    dep.add_argument("-f", "--file", required=True, help="its definition (YAML or JSON)")
    with_json(acts.add_parser("managed", help="list managed services"))
    with_json(acts.add_parser("status", help="a managed service and its instances")).add_argument(
        "ident", metavar="NAME_OR_ID"
    )
    sc = waiting(with_json(acts.add_parser("scale", help="change desired (or bounds)")))
    sc.add_argument("ident", metavar="NAME_OR_ID")
    sc.add_argument("--desired", type=int)
    sc.add_argument("--min", type=int)
    sc.add_argument("--max", type=int)
    ro = waiting(with_json(acts.add_parser("rollout", help="roll out a new release")))
    ro.add_argument("ident", metavar="NAME_OR_ID")
    ro.add_argument("--release", required=True)
    ro.add_argument("--template", help="its template (name or id; default: the current)")
    ro.add_argument("--offering", help="its service offering (name or id)")
    ro.add_argument("--max-unavailable", type=int)
    me = acts.add_parser("metric", help="report a custom metric's value")
    me.add_argument("ident", metavar="NAME_OR_ID")
    me.add_argument("pair", metavar="NAME=VALUE")
    rm = waiting(with_json(acts.add_parser("remove", help="delete a managed service")))
    rm.add_argument("ident", metavar="NAME_OR_ID")
