"""The admin commands: everything a running platform is managed with, over the REST API.

They use only :mod:`strato.sdk` (and the CLI's output helpers), so they work from any
machine that can reach the API, with nothing of the server installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from strato.cli.common import follow, named, parse_pairs, resolve, with_json
from strato.cli.output import byte_progress, console, emit, operation_progress
from strato.sdk.client import StratoClient

RESOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "zones": ("/zones", ("id", "name", "network_type", "state")),
    "pods": ("/pods", ("id", "name", "zone_id", "state")),
    "clusters": ("/clusters", ("id", "name", "hypervisor", "cpu_overcommit_ratio", "state")),
    "hosts": (
        "/hosts",
        ("id", "name", "hypervisor", "status", "resource_state", "cpu_cores", "memory_total_mb"),
    ),
    "pools": ("/storage-pools", ("id", "name", "driver", "scope", "capacity_bytes", "state")),
    "offerings": ("/service-offerings", ("id", "name", "cpu_count", "memory_mb", "state")),
    "disk-offerings": ("/disk-offerings", ("id", "name", "size_gb", "custom_size", "state")),
    "templates": ("/templates", ("id", "name", "format", "size_bytes", "stored", "state")),
    "image-stores": ("/image-stores", ("id", "name", "zone_id", "driver", "url", "state")),
    "backup-offerings": ("/backup-offerings", ("id", "name", "retention", "state")),
    "affinity-groups": ("/affinity-groups", ("id", "name", "kind", "strict", "owner")),
    "physical-networks": (
        "/physical-networks",
        ("id", "name", "zone_id", "isolation", "traffic_types", "state"),
    ),
    "public-ip-ranges": (
        "/public-ip-ranges",
        ("id", "zone_id", "vlan", "gateway", "cidr", "ip_start", "ip_end"),
    ),
}
VM_COLUMNS = ("id", "name", "state", "cpu_count", "memory_mb", "host_id", "owner")
VM_VERBS = (
    "start",
    "stop",
    "reboot",
    "scale",
    "destroy",
    "recover",
    "expunge",
    "migrate",
    "attach-iso",
    "detach-iso",
)


def cmd_resource(args: argparse.Namespace, api: StratoClient) -> int:
    path, columns = RESOURCES[args.resource]
    if args.action == "list":
        rows = list(api.list_all(path, **parse_pairs(args.filters)))
        emit(rows, args.json, columns)
    elif args.action == "show":
        emit(resolve(api, path, args.ident), args.json)
    elif args.action == "create":
        body = parse_pairs(args.fields)
        named(api, body, ("zone", "zone_id", "/zones"))
        result = api.post(path, body)
        if "operation" in result:  # asynchronous (hosts): follow it unless --no-wait
            return follow(api, result, args)
        emit(result, args.json)
    elif args.action == "delete":
        target = resolve(api, path, args.ident)
        answer = api.delete(f"{path}/{target['id']}")
        if isinstance(answer, dict) and "operation" in answer:  # a stored template's copies
            return follow(api, answer, args)
        print(f"deleted {target['id']}")
    elif args.action == "upload":  # templates: the image file as the request body
        return _upload(api, args)
    elif args.action == "maintenance":  # hosts: move every VM off, live progress
        target = resolve(api, path, args.ident)
        return follow(api, api.post(f"{path}/{target['id']}/maintenance", {}), args)
    elif args.action == "cancel-maintenance":
        target = resolve(api, path, args.ident)
        emit(api.post(f"{path}/{target['id']}/cancel-maintenance", {}), args.json)
    elif args.action == "copy":  # templates: to another zone's image store
        target = resolve(api, path, args.ident)
        body = parse_pairs(args.fields)
        named(api, body, ("zone", "zone_id", "/zones"))
        return follow(api, api.post(f"{path}/{target['id']}/copies", body), args)
    return 0


def _upload(api: StratoClient, args: argparse.Namespace) -> int:
    file = Path(args.file)
    if not file.is_file():
        raise SystemExit(f"no file {args.file}")
    params = parse_pairs(args.fields)
    named(api, params, ("zone", "zone_id", "/zones"))
    with byte_progress(f"upload {file.name}", file.stat().st_size) as sent:
        accepted = api.upload("/templates/upload", file, params, on_chunk=sent)
    return follow(api, accepted, args)


def cmd_vm(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(list(api.list_all("/vms", **parse_pairs(args.filters))), args.json, VM_COLUMNS)
        return 0
    if args.action == "show":
        emit(resolve(api, "/vms", args.ident), args.json)
        return 0
    if args.action == "deploy":
        body = parse_pairs(args.fields)
        named(
            api,
            body,
            ("zone", "zone_id", "/zones"),
            ("offering", "service_offering_id", "/service-offerings"),
            ("template", "template_id", "/templates"),
        )
        return follow(api, api.post("/vms", body), args)
    vm = resolve(api, "/vms", args.ident)
    body = parse_pairs(args.fields)
    named(api, body, ("iso", "iso_id", "/templates"), ("host", "host_id", "/hosts"))
    return follow(
        api, api.request("POST", f"/vms/{vm['id']}/{args.action}", json=body or None), args
    )


def cmd_operations(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(
            api.get("/operations", limit=args.limit),
            args.json,
            ("id", "kind", "state", "step", "progress", "created_at"),
        )
        return 0
    if args.action == "watch":
        if args.json:
            op = api.wait_operation(args.id, timeout=args.timeout)
        else:
            with operation_progress(f"operation {args.id}") as show:
                op = api.wait_operation(args.id, on_change=show, timeout=args.timeout)
    else:
        op = api.get(f"/operations/{args.id}")
    emit(op, args.json)
    return 0 if op["state"] != "failed" else 1


def cmd_events(args: argparse.Namespace, api: StratoClient) -> int:
    import time

    if args.action == "types":
        emit(api.get("/events/types"), args.json, ("type", "resource", "summary"))
        return 0
    after = args.after
    while True:
        page = api.get("/events", after=after, limit=500, type=args.type, resource_id=args.resource)
        for ev in page["items"]:
            if args.json:
                print(json.dumps(ev), flush=True)
            else:
                d = ev["data"]
                change = (
                    f" {d.get('old_state')} -> {d.get('new_state')}" if "new_state" in d else ""
                )
                console.print(
                    f"{ev['id']:>8} {ev['time']} {ev['type']} {ev.get('subject', '')}{change}"
                )
        after = page["last_id"]
        if not args.follow:
            return 0
        if not page["items"]:
            time.sleep(0.5)


def cmd_keys(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "create":
        created = api.post("/api-keys", {"name": args.name, "scope": args.scope})
        emit(created if args.json else {**created["key"], "token": created["token"]}, args.json)
    elif args.action == "list":
        emit(api.get("/api-keys"), args.json, ("id", "name", "prefix", "scope", "revoked_at"))
    else:
        emit(api.delete(f"/api-keys/{args.id}"), args.json)
    return 0


def cmd_status(args: argparse.Namespace, api: StratoClient) -> int:
    """Health, the summary, and every registered process by kind (1 if anything is
    unhealthy or a process is critical)."""
    from strato.cli.output import show_processes

    health = api.get("/health")
    status = api.get("/status")
    instances = api.get("/services")
    if args.json:
        emit({**health, **status, "services": instances}, True)
    else:
        emit({**health, **status}, False)
        show_processes(instances)
    critical = any(i["health"] == "critical" for i in instances)
    return 0 if health["status"] == "ok" and not critical else 1


def add_commands(sub: Any) -> None:
    """The admin commands, as subcommands of ``strato``."""

    with_json(sub.add_parser("status", help="health and summary of a running platform"))
    for name in RESOURCES:
        rp = sub.add_parser(name, help=f"manage {name}")
        acts = rp.add_subparsers(dest="action", required=True)
        with_json(acts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
        with_json(acts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
        cp = with_json(acts.add_parser("create"))
        cp.add_argument("fields", nargs="+", metavar="key=value")
        cp.add_argument("--no-wait", action="store_true", help="return once accepted")
        de = with_json(acts.add_parser("delete"))
        de.add_argument("ident", metavar="ID|NAME")
        de.add_argument("--no-wait", action="store_true", help="return once accepted")
        if name == "hosts":
            mp = with_json(acts.add_parser("maintenance", help="move its VMs off, then hold it"))
            mp.add_argument("ident", metavar="ID|NAME")
            mp.add_argument("--no-wait", action="store_true", help="return once accepted")
            cm = with_json(acts.add_parser("cancel-maintenance", help="back to Enabled"))
            cm.add_argument("ident", metavar="ID|NAME")
        if name == "templates":
            tc = with_json(acts.add_parser("copy", help="TEMPLATE zone=..|zone_id=.."))
            tc.add_argument("ident", metavar="ID|NAME")
            tc.add_argument("fields", nargs="+", metavar="key=value")
            tc.add_argument("--no-wait", action="store_true", help="return once accepted")
            tu = with_json(acts.add_parser("upload", help="FILE name=.. zone=.. [format=..]"))
            tu.add_argument("file", metavar="FILE")
            tu.add_argument("fields", nargs="+", metavar="key=value")
            tu.add_argument("--no-wait", action="store_true", help="return once accepted")
        rp.set_defaults(handler=cmd_resource, resource=name)

    vmp = sub.add_parser("vm", help="deploy and operate VMs")
    vacts = vmp.add_subparsers(dest="action", required=True)
    with_json(vacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    with_json(vacts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
    dp = with_json(
        vacts.add_parser("deploy", help="name=.. zone_id=.. service_offering_id=.. template_id=..")
    )
    dp.add_argument("fields", nargs="+", metavar="key=value")
    dp.add_argument("--no-wait", action="store_true", help="return once accepted")
    for verb in VM_VERBS:
        vp = with_json(vacts.add_parser(verb))
        vp.add_argument("ident", metavar="ID|NAME")
        vp.add_argument(
            "fields",
            nargs="*",
            metavar="key=value",
            help="e.g. force=true, service_offering_id=.., expunge=true, iso=NAME, host=NAME",
        )
        vp.add_argument("--no-wait", action="store_true", help="return once accepted")
    vmp.set_defaults(handler=cmd_vm)

    ops = sub.add_parser("operations", help="follow asynchronous operations")
    oacts = ops.add_subparsers(dest="action", required=True)
    with_json(oacts.add_parser("list")).add_argument("--limit", type=int, default=20)
    with_json(oacts.add_parser("show")).add_argument("id")
    watch = with_json(oacts.add_parser("watch"))
    watch.add_argument("id")
    watch.add_argument("--timeout", type=float, default=3600)
    ops.set_defaults(handler=cmd_operations)

    ev = sub.add_parser("events", help="read the event stream")
    eacts = ev.add_subparsers(dest="action", required=True)
    tail = with_json(eacts.add_parser("tail"))
    tail.add_argument("--after", type=int, default=0)
    tail.add_argument("--type", default=None, help="type prefix, e.g. strato.host")
    tail.add_argument("--resource", default=None, metavar="ID", help="one resource's events")
    tail.add_argument("-f", "--follow", action="store_true")
    relay = eacts.add_parser(
        "relay",
        help="run the event relay process (webhooks); several may run, one leads",
    )
    relay.set_defaults(server=True)
    with_json(eacts.add_parser("types", help="the event-type catalog"))
    ev.set_defaults(handler=cmd_events)

    keys = sub.add_parser("keys", help="admin API keys")
    kacts = keys.add_subparsers(dest="action", required=True)
    kc = with_json(kacts.add_parser("create"))
    kc.add_argument("name")
    kc.add_argument("--scope", choices=["admin", "read"], default="admin")
    with_json(kacts.add_parser("list"))
    with_json(kacts.add_parser("revoke")).add_argument("id")
    keys.set_defaults(handler=cmd_keys)
