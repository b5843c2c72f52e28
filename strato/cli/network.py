"""The network commands: guest networks (create, restart, shut down, delete), public IPs
acquired and released, security groups and their rules, a physical network's segment
ids (vnets) added and removed; over the REST API through :mod:`strato.sdk` only. (The
physical networks and public IP ranges themselves are admin resources:
``strato physical-networks``, ``strato public-ip-ranges``.)"""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import follow, named, parse_pairs, resolve, with_json
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


NETWORK_COLUMNS = ("id", "name", "kind", "state", "cidr", "segment", "free_addresses")
GROUP_COLUMNS = ("id", "name", "owner", "description")
RULE_COLUMNS = ("id", "direction", "protocol", "start_port", "end_port", "cidr", "remote_group_id")


def cmd_networks(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(api.get("/networks"), args.json, NETWORK_COLUMNS)
        return 0
    if args.action == "create":
        body = parse_pairs(args.fields)
        named(
            api,
            body,
            ("zone", "zone_id", "/zones"),
            ("physical-network", "physical_network_id", "/physical-networks"),
            ("offering", "offering_id", "/network-offerings"),
        )
        emit(api.post("/networks", body), args.json)
        return 0
    net = _network(api, args.ident)
    path = f"/networks/{net['id']}"
    if args.action == "show":
        emit(api.get(path), args.json)
        return 0
    if args.action == "delete":
        accepted = api.request("DELETE", path)
        if accepted is None:  # never on a host: gone at once
            emit({"deleted": net["id"]}, args.json)
            return 0
        return follow(api, accepted, args)
    body = {"cleanup": args.cleanup} if args.action == "restart" else {}
    return follow(api, api.post(f"{path}/{args.action}", body), args)


def _network(api: StratoClient, ident: str) -> dict[str, Any]:
    """A network by id or by name (networks are listed whole, not by page)."""
    for net in api.get("/networks"):
        if ident in (net["id"], net["name"]):
            return dict(net)
    raise SystemExit(f"no network {ident!r}")


def cmd_security_groups(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(list(api.list_all("/security-groups")), args.json, GROUP_COLUMNS)
        return 0
    if args.action == "create":
        emit(api.post("/security-groups", parse_pairs(args.fields)), args.json)
        return 0
    if args.action == "revoke":
        emit(api.request("DELETE", f"/security-group-rules/{args.ident}"), args.json)
        return 0
    group = resolve(api, "/security-groups", args.ident)
    path = f"/security-groups/{group['id']}"
    if args.action == "delete":
        emit(api.request("DELETE", path), args.json)
    elif args.action == "rules":
        emit(list(api.list_all(f"{path}/rules")), args.json, RULE_COLUMNS)
    else:  # allow
        body = parse_pairs(args.fields)
        named(api, body, ("remote-group", "remote_group_id", "/security-groups"))
        emit(api.post(f"{path}/rules", body), args.json)
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

    nets = sub.add_parser("networks", help="guest networks")
    nacts = nets.add_subparsers(dest="action", required=True)
    with_json(nacts.add_parser("list"))
    with_json(
        nacts.add_parser(
            "create",
            help="zone=.. name=.. cidr=.. [kind=isolated|shared] [physical-network=..] "
            "[offering=..] [gateway=..]",
        )
    ).add_argument("fields", nargs="+", metavar="key=value")
    for verb, about in (
        ("show", "a network"),
        ("restart", "rebuild its hosts' part and router from the database"),
        ("shutdown", "give an idle network's router and segment back"),
        ("delete", "delete it (its hosts' part first)"),
    ):
        n = with_json(nacts.add_parser(verb, help=about))
        n.add_argument("ident", metavar="NETWORK")
        if verb != "show":
            n.add_argument("--no-wait", action="store_true", help="return once accepted")
        if verb == "restart":
            n.add_argument("--cleanup", action="store_true", help="destroy the router first")
    nets.set_defaults(handler=cmd_networks)

    sg = sub.add_parser("security-groups", help="security groups and their rules")
    sgacts = sg.add_subparsers(dest="action", required=True)
    with_json(sgacts.add_parser("list"))
    with_json(sgacts.add_parser("create", help="name=.. [description=..] [owner=..]")).add_argument(
        "fields", nargs="+", metavar="key=value"
    )
    for verb in ("delete", "rules"):
        with_json(sgacts.add_parser(verb)).add_argument("ident", metavar="GROUP")
    allow = with_json(
        sgacts.add_parser(
            "allow",
            help="GROUP protocol=tcp|udp|icmp|all [direction=ingress|egress] "
            "[start_port=.. end_port=..] cidr=..|remote-group=..",
        )
    )
    allow.add_argument("ident", metavar="GROUP")
    allow.add_argument("fields", nargs="+", metavar="key=value")
    with_json(sgacts.add_parser("revoke", help="a rule, by id")).add_argument(
        "ident", metavar="RULE"
    )
    sg.set_defaults(handler=cmd_security_groups)

    vn = sub.add_parser("vnets", help="a physical network's segment ids (VLAN ids or VNIs)")
    vnacts = vn.add_subparsers(dest="action", required=True)
    with_json(vnacts.add_parser("list")).add_argument("ident", metavar="PHYSICAL_NETWORK")
    for verb in ("add", "remove"):
        v = with_json(vnacts.add_parser(verb, help="PHYSICAL_NETWORK START END"))
        v.add_argument("ident", metavar="PHYSICAL_NETWORK")
        v.add_argument("start", type=int)
        v.add_argument("end", type=int)
    vn.set_defaults(handler=cmd_vnets)
