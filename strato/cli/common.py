"""What every admin command module shares: ``key=value`` arguments, names resolved to
ids, following an operation to its end, ``--json``. Over :mod:`strato.sdk` alone."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from strato.cli.output import console, emit, errors, operation_progress, progress_line
from strato.sdk.client import StratoClient


def parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    """``name=x cpu_count=2 tags=["a"]`` -> dict; values are JSON when they parse as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def resolve(api: StratoClient, path: str, ident: str) -> dict[str, Any]:
    try:
        UUID(ident)
    except ValueError:
        got = api.get(path, name=ident)
        # A page, or (networks) a plain list that may not filter by name.
        items = got["items"] if isinstance(got, dict) else got
        found = [i for i in items if i.get("name") == ident]
        if not found:
            raise SystemExit(f"no resource named {ident!r} at {path}") from None
        ident = found[0]["id"]
    return dict(api.get(f"{path}/{ident}"))


def follow(api: StratoClient, accepted: dict[str, Any], args: argparse.Namespace) -> int:
    """Show the operation's steps live until it ends (or return at once with --no-wait)."""
    op = accepted["operation"]
    if not args.no_wait:
        if args.json:
            op = api.wait_operation(op["id"])
        else:
            with operation_progress(f"operation {op['id']} ({op['kind']})") as show:
                op = api.wait_operation(op["id"], on_change=show)
            console.print(progress_line(op))
    if args.json:
        emit({"operation": op, "resource": accepted.get("resource")}, True)
    elif op.get("error"):
        errors.print(f"failed: {op['error']['type']}: {op['error']['message']}")
    return 1 if op["state"] in ("failed", "cancelled") else 0


def named(api: StratoClient, body: dict[str, Any], *refs: tuple[str, str, str]) -> None:
    """Friendly names in ``body`` (``zone=z1``), resolved to ids (``zone_id``) here."""
    for name_key, id_key, path in refs:
        if name_key in body:
            body[id_key] = resolve(api, path, str(body.pop(name_key)))["id"]


def with_json(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    return sp
