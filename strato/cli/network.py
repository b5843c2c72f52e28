"""The network commands: public IPs acquired and released, a physical network's segment
ids (vnets) added and removed; over the REST API through :mod:`strato.sdk` only. (The
physical networks and public IP ranges themselves are admin resources:
``strato physical-networks``, ``strato public-ip-ranges``.)"""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import named, parse_pairs, resolve, with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient

PUBLIC_IP_COLUMNS = ("id", "address", "state", "owner", "network_id", "source_nat")


def cmd_public_ip(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/public-ips", **parse_pairs(args.filters)))
        emit(rows, args.json, PUBLIC_IP_COLUMNS)
    elif args.action == "acquire":
        body = parse_pairs(args.fields)
        named(api, body, ("zone", "zone_id", "/zones"), ("network", "network_id", "/networks"))
        emit(api.post("/public-ips", body), args.json)
    else:
        emit(api.request("DELETE", f"/public-ips/{args.ident}"), args.json)
    return 0


def cmd_vnets(args: argparse.Namespace, api: StratoClient) -> int:
    pn = resolve(api, "/physical-networks", args.ident)
    path = f"/physical-networks/{pn['id']}/vnets"
    if args.action == "list":
        got = api.get(path)
    elif args.action == "add":
        got = api.post(path, {"start": args.start, "end": args.end})
    else:
        got = api.request("DELETE", path, params={"start": args.start, "end": args.end})
    emit(got["vnets"], args.json, ("start", "end", "allocated"))
    return 0


def add_commands(sub: Any) -> None:
    """The network commands, as subcommands of ``strato``."""
    ip = sub.add_parser("public-ip", help="public IPs: acquire, release, list")
    ipacts = ip.add_subparsers(dest="action", required=True)
    with_json(ipacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    acq = with_json(ipacts.add_parser("acquire", help="zone=.. [network=..] [owner=..]"))
    acq.add_argument("fields", nargs="+", metavar="key=value")
    with_json(ipacts.add_parser("release")).add_argument("ident", metavar="ID")
    ip.set_defaults(handler=cmd_public_ip)

    vn = sub.add_parser("vnets", help="a physical network's segment ids (VLAN ids or VNIs)")
    vnacts = vn.add_subparsers(dest="action", required=True)
    with_json(vnacts.add_parser("list")).add_argument("ident", metavar="PHYSICAL_NETWORK")
    for verb in ("add", "remove"):
        v = with_json(vnacts.add_parser(verb, help="PHYSICAL_NETWORK START END"))
        v.add_argument("ident", metavar="PHYSICAL_NETWORK")
        v.add_argument("start", type=int)
        v.add_argument("end", type=int)
    vn.set_defaults(handler=cmd_vnets)
