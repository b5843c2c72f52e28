"""``strato usage``: usage records by account, type and period, over the API."""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient
from strato.services.usage.ingest import TYPES


def cmd_usage(args: argparse.Namespace, api: StratoClient) -> int:
    params = {
        "account": args.account,
        "usage_type": args.type,
        "start": args.start,
        "end": args.end,
        "limit": args.limit,
    }
    records = api.get("/usage-records", **{k: v for k, v in params.items() if v is not None})
    emit(records, args.json,
         ("start_at", "account", "usage_type", "resource_id", "quantity", "unit"))  # fmt: skip
    return 0


def add_commands(sub: Any) -> None:
    p = with_json(sub.add_parser("usage", help="hourly usage records (the usage service)"))
    p.add_argument("--account")
    p.add_argument("--type", choices=TYPES)
    p.add_argument("--start", help="ISO time: records from then")
    p.add_argument("--end", help="ISO time: records up to then")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(handler=cmd_usage)
