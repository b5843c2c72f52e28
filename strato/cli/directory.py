"""``strato services`` and ``strato status``: the services directory (and the managed
services, :mod:`strato.cli.managed`), over the REST API."""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli import managed
from strato.cli.common import with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient

_COLUMNS = ("name", "kind", "version", "health", "last_seen_at", "health_detail")


def cmd_services(args: argparse.Namespace, api: StratoClient) -> int:
    if managed.cmd_managed(args, api):
        return 0
    if args.action == "list":
        params = {k: v for k, v in (("kind", args.kind), ("health", args.health)) if v}
        emit(api.get("/services", **params), args.json, _COLUMNS)
        return 0
    if args.action == "discover":
        endpoints = api.discover(args.kind, args.zone)
        if not endpoints:
            raise SystemExit(f"no healthy instance of kind {args.kind!r}")
        emit(endpoints, args.json, ("url", "protocol"))
        return 0
    found = [s for s in api.get("/services") if args.ident in (s["id"], s["name"])]
    if not found:
        raise SystemExit(f"no service instance {args.ident!r}")
    emit(found[0], args.json)
    return 0


def add_commands(sub: Any) -> None:
    svc = sub.add_parser(
        "services", help="the services directory, and managed services (deploy, scale, rollout)"
    )
    acts = svc.add_subparsers(dest="action", required=True)
    ls = with_json(acts.add_parser("list"))
    ls.add_argument("--kind")
    ls.add_argument("--health", choices=["passing", "warning", "critical"])
    with_json(acts.add_parser("show")).add_argument("ident", metavar="ID_OR_NAME")
    found = with_json(
        acts.add_parser("discover", help="endpoints of a kind's healthy instances, best first")
    )
    found.add_argument("kind")
    found.add_argument("--zone")
    managed.add_actions(acts)
    svc.set_defaults(handler=cmd_services)
