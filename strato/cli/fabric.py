"""Capacity and alerts: ``strato capacity`` (each entry with a bar of its allocation)
and ``strato alerts``, over the REST API."""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import resolve, with_json
from strato.cli.output import console, emit
from strato.sdk.client import StratoClient

_WIDTH = 24


def bar(percent: float, width: int = _WIDTH) -> str:
    """``[#######.........]`` for ``percent`` of ``width`` (over 100 is shown full)."""
    filled = round(min(max(percent, 0.0), 100.0) / 100.0 * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def amount(value: int, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 2**30:.1f} GiB"
    if unit == "MiB":
        return f"{value / 1024:.1f} GiB"
    if unit == "MHz":
        return f"{value / 1000:.1f} GHz"
    return f"{value} {unit}"


def cmd_capacity(args: argparse.Namespace, api: StratoClient) -> int:
    params: dict[str, Any] = {"scope": args.scope, "kind": args.kind}
    if args.zone:
        params["zone_id"] = resolve(api, "/zones", args.zone)["id"]
    items = api.get("/capacity", **params)["items"]
    if args.json:
        emit(items, True)
        return 0
    for e in items:
        shown = f"{amount(e['allocated'], e['unit'])} of {amount(e['total'], e['unit'])}"
        console.print(
            f"{e['scope']:<16} {e['name'][:24]:<24} {e['kind']:<10} "
            f"{bar(e['percent'])} {e['percent']:5.1f}%  {shown}"
        )
    if not items:
        console.print("no capacity to show (no hosts, pools or networks yet)")
    return 0


def cmd_alerts(args: argparse.Namespace, api: StratoClient) -> int:
    items = api.get("/alerts", all=args.all or None, limit=args.limit)["items"]
    emit(items, args.json, ("raised_at", "kind", "resource_type", "name", "detail", "cleared_at"))
    return 0


def add_commands(sub: Any) -> None:
    cap = with_json(sub.add_parser("capacity", help="capacity and its allocation, with bars"))
    cap.add_argument("--zone", help="one zone (name or id)")
    cap.add_argument(
        "--scope", choices=["zone", "pod", "cluster", "host", "pool", "physical_network"]
    )
    cap.add_argument("--kind", choices=["cpu", "memory", "storage", "public_ips", "vlans"])
    cap.set_defaults(handler=cmd_capacity)
    al = with_json(sub.add_parser("alerts", help="active alerts (--all: cleared ones too)"))
    al.add_argument("--all", action="store_true")
    al.add_argument("--limit", type=int, default=100)
    al.set_defaults(handler=cmd_alerts)
