"""``strato webhooks``: event subscriptions and their deliveries, over the REST API."""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import parse_pairs, resolve, with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient

_COLUMNS = ("id", "name", "url", "types", "enabled", "max_attempts")
_DELIVERY = ("id", "event_id", "event_type", "state", "attempts", "last_status", "last_error")


def cmd_webhooks(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(list(api.list_all("/webhooks")), args.json, _COLUMNS)
    elif args.action == "create":
        emit(api.post("/webhooks", parse_pairs(args.fields)), args.json)
    elif args.action == "show":
        emit(resolve(api, "/webhooks", args.ident), args.json)
    elif args.action == "update":
        hook = resolve(api, "/webhooks", args.ident)
        emit(api.patch(f"/webhooks/{hook['id']}", parse_pairs(args.fields)), args.json)
    elif args.action == "delete":
        hook = resolve(api, "/webhooks", args.ident)
        api.delete(f"/webhooks/{hook['id']}")
        emit({"deleted": hook["id"]}, args.json)
    elif args.action == "deliveries":
        hook = resolve(api, "/webhooks", args.ident)
        params: dict[str, Any] = {"limit": args.limit}
        if args.state:
            params["state"] = args.state
        emit(api.get(f"/webhooks/{hook['id']}/deliveries", **params), args.json, _DELIVERY)
    else:
        hook = resolve(api, "/webhooks", args.ident)
        path = f"/webhooks/{hook['id']}/deliveries/{args.delivery}/redeliver"
        emit(api.post(path, {}), args.json, _DELIVERY)
    return 0


def add_commands(sub: Any) -> None:
    wh = sub.add_parser(
        "webhooks",
        help="event subscriptions: each event, signed, POSTed to a URL (see docs/events.md)",
    )
    acts = wh.add_subparsers(dest="action", required=True)
    with_json(acts.add_parser("list"))
    with_json(
        acts.add_parser(
            "create",
            help="name=.. url=.. secret=.. [types='[\"strato.vm.*\"]'] [allow_internal=true]",
        )
    ).add_argument("fields", nargs="+", metavar="key=value")
    with_json(acts.add_parser("show")).add_argument("ident", metavar="WEBHOOK")
    upd = with_json(acts.add_parser("update", help="WEBHOOK key=value ..."))
    upd.add_argument("ident", metavar="WEBHOOK")
    upd.add_argument("fields", nargs="+", metavar="key=value")
    with_json(acts.add_parser("delete")).add_argument("ident", metavar="WEBHOOK")
    dl = with_json(
        acts.add_parser("deliveries", help="its deliveries (--state dead: dead letters)")
    )
    dl.add_argument("ident", metavar="WEBHOOK")
    dl.add_argument("--state", choices=["pending", "delivered", "dead"])
    dl.add_argument("--limit", type=int, default=100)
    rd = with_json(acts.add_parser("redeliver", help="WEBHOOK DELIVERY_ID"))
    rd.add_argument("ident", metavar="WEBHOOK")
    rd.add_argument("delivery", type=int, metavar="DELIVERY_ID")
    wh.set_defaults(handler=cmd_webhooks)
