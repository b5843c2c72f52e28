"""``strato acl``: domains, accounts, users, key pairs, limits and roles, over the API
(as the cloud's admin key, or a user's key pair from STRATO_ACCESS_KEY and
STRATO_SECRET_KEY)."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from strato.cli.common import with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient
from strato.services.acl import rules

_ROLES = {
    "root-admin": rules.ROOT_ADMIN,
    "domain-admin": rules.DOMAIN_ADMIN,
    "user": rules.USER,
    "read-only": rules.READ_ONLY,
}


def _domain(api: StratoClient, ident: str) -> dict[str, Any]:
    for d in api.get("/acl/domains"):
        if ident in (d["id"], d["path"]):
            return d  # type: ignore[no-any-return]
    raise SystemExit(f"no domain {ident!r} (give its path, as ROOT/sales, or its id)")


def _role(api: StratoClient, ident: str) -> str:
    if ident in _ROLES:
        return str(_ROLES[ident])
    for r in api.get("/acl/roles"):
        if ident in (r["id"], r["name"]):
            return str(r["id"])
    raise SystemExit(f"no role {ident!r} (built in: {', '.join(_ROLES)})")


def _password(args: argparse.Namespace) -> str:
    return os.environ.get("STRATO_PASSWORD") or getpass.getpass(f"password for {args.username}: ")


def cmd_acl(args: argparse.Namespace, api: StratoClient) -> int:
    what, act = args.what, getattr(args, "act", "list")
    out: Any
    if what == "whoami":
        out = api.get("/acl/whoami")
    elif what == "domains" and act == "create":
        parent = _domain(api, args.parent)
        out = api.post("/acl/domains", {"name": args.name, "parent_id": parent["id"]})
    elif what == "domains":
        out, cols = api.get("/acl/domains"), ("path", "id", "state")
        emit(out, args.json, cols)
        return 0
    elif what == "accounts" and act == "create":
        body = {"name": args.name, "domain_id": _domain(api, args.domain)["id"],
                "role_id": _role(api, args.role)}  # fmt: skip
        out = api.post("/acl/accounts", body)
    elif what == "accounts":
        emit(api.get("/acl/accounts"), args.json, ("domain_path", "name", "role", "state", "id"))
        return 0
    elif what == "users" and act == "create":
        body = {"account_id": args.account, "username": args.username,
                "password": _password(args)}  # fmt: skip
        out = api.post("/acl/users", body)
    elif what == "users":
        params = {"account_id": args.account} if args.account else {}
        emit(api.get("/acl/users", **params), args.json, ("username", "state", "source", "id"))
        return 0
    elif what == "keys" and act == "create":
        out = api.post(f"/acl/users/{args.user}/keys", {"name": args.name})
    elif what == "keys" and act == "revoke":
        api.delete(f"/acl/keys/{args.key}")
        out = {"revoked": args.key}
    elif what == "keys":
        emit(api.get(f"/acl/users/{args.user}/keys"), args.json,
             ("access_key", "name", "created_at", "revoked_at", "id"))  # fmt: skip
        return 0
    elif what == "limits" and act == "set":
        kind = "domains" if args.domain else "accounts"
        target = _domain(api, args.target)["id"] if args.domain else args.target
        out = api.request("PUT", f"/acl/{kind}/{target}/limits/{args.resource}",
                          json={"max": args.max})  # fmt: skip
    elif what == "limits":
        kind = "domains" if args.domain else "accounts"
        target = _domain(api, args.target)["id"] if args.domain else args.target
        emit(api.get(f"/acl/{kind}/{target}/limits"), args.json,
             ("resource", "max", "used", "exceeded"))  # fmt: skip
        return 0
    else:  # roles
        emit(api.get("/acl/roles"), args.json, ("name", "type", "builtin", "id"))
        return 0
    emit(out, args.json)
    return 0


def add_commands(sub: Any) -> None:
    acl = sub.add_parser("acl", help="domains, accounts, users, API key pairs, limits, roles")
    what = acl.add_subparsers(dest="what", required=True)
    with_json(what.add_parser("whoami", help="the caller, as the ACL sees it"))
    dom = what.add_parser("domains", help="the domain tree").add_subparsers(
        dest="act", required=True
    )
    with_json(dom.add_parser("list"))
    made = with_json(dom.add_parser("create"))
    made.add_argument("name")
    made.add_argument("--parent", default="ROOT", help="the parent's path or id (ROOT)")
    acc = what.add_parser("accounts").add_subparsers(dest="act", required=True)
    with_json(acc.add_parser("list"))
    made = with_json(acc.add_parser("create"))
    made.add_argument("name")
    made.add_argument("--domain", required=True, help="its domain's path or id")
    made.add_argument("--role", default="user", help=f"{', '.join(_ROLES)}, or a role's name")
    usr = what.add_parser("users").add_subparsers(dest="act", required=True)
    with_json(usr.add_parser("list")).add_argument("--account")
    made = with_json(usr.add_parser("create", help="the password from STRATO_PASSWORD, or asked"))
    made.add_argument("username")
    made.add_argument("--account", required=True)
    keys = what.add_parser("keys", help="a user's API key pairs").add_subparsers(
        dest="act", required=True
    )
    with_json(keys.add_parser("list")).add_argument("user")
    made = with_json(keys.add_parser("create", help="the secret is shown once"))
    made.add_argument("user")
    made.add_argument("--name", default="")
    with_json(keys.add_parser("revoke")).add_argument("key")
    lim = what.add_parser("limits").add_subparsers(dest="act", required=True)
    show = with_json(lim.add_parser("show"))
    show.add_argument("target", help="an account's id (--domain: a domain's path or id)")
    show.add_argument("--domain", action="store_true")
    made = with_json(lim.add_parser("set"))
    made.add_argument("target")
    made.add_argument("resource")
    made.add_argument("max", type=int, help="-1: unlimited")
    made.add_argument("--domain", action="store_true")
    with_json(what.add_parser("roles"))
    acl.set_defaults(handler=cmd_acl)
