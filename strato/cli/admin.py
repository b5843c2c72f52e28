"""The admin commands: everything a running platform is managed with, over the REST API.

They use only :mod:`strato.sdk` (and the CLI's output helpers), so they work from any
machine that can reach the API, with nothing of the server installed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from strato.cli.output import console, emit, errors, operation_progress, progress_line
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
}
VM_COLUMNS = ("id", "name", "state", "cpu_count", "memory_mb", "host_id", "owner")
VM_VERBS = ("start", "stop", "reboot", "scale", "destroy", "recover", "expunge")
VOLUME_COLUMNS = ("id", "name", "kind", "state", "size_bytes", "vm_id", "device_id", "pool_id")
VOLUME_VERBS = ("attach", "detach", "resize", "migrate", "destroy", "recover", "expunge")


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


def _resolve(api: StratoClient, path: str, ident: str) -> dict[str, Any]:
    try:
        UUID(ident)
    except ValueError:
        found = api.get(path, name=ident)["items"]
        if not found:
            raise SystemExit(f"no resource named {ident!r} at {path}") from None
        ident = found[0]["id"]
    return dict(api.get(f"{path}/{ident}"))


def cmd_resource(args: argparse.Namespace, api: StratoClient) -> int:
    path, columns = RESOURCES[args.resource]
    if args.action == "list":
        rows = list(api.list_all(path, **parse_pairs(args.filters)))
        emit(rows, args.json, columns)
    elif args.action == "show":
        emit(_resolve(api, path, args.ident), args.json)
    elif args.action == "create":
        body = parse_pairs(args.fields)
        _named(api, body, ("zone", "zone_id", "/zones"))
        result = api.post(path, body)
        if "operation" in result:  # asynchronous (hosts): follow it unless --no-wait
            return follow(api, result, args)
        emit(result, args.json)
    elif args.action == "delete":
        target = _resolve(api, path, args.ident)
        answer = api.delete(f"{path}/{target['id']}")
        if isinstance(answer, dict) and "operation" in answer:  # a stored template's copies
            return follow(api, answer, args)
        print(f"deleted {target['id']}")
    elif args.action == "copy":  # templates: to another zone's image store
        target = _resolve(api, path, args.ident)
        body = parse_pairs(args.fields)
        _named(api, body, ("zone", "zone_id", "/zones"))
        return follow(api, api.post(f"{path}/{target['id']}/copies", body), args)
    return 0


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


def cmd_vm(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(list(api.list_all("/vms", **parse_pairs(args.filters))), args.json, VM_COLUMNS)
        return 0
    if args.action == "show":
        emit(_resolve(api, "/vms", args.ident), args.json)
        return 0
    if args.action == "deploy":
        body = parse_pairs(args.fields)
        _named(
            api,
            body,
            ("zone", "zone_id", "/zones"),
            ("offering", "service_offering_id", "/service-offerings"),
            ("template", "template_id", "/templates"),
        )
        return follow(api, api.post("/vms", body), args)
    vm = _resolve(api, "/vms", args.ident)
    body = parse_pairs(args.fields)
    return follow(
        api, api.request("POST", f"/vms/{vm['id']}/{args.action}", json=body or None), args
    )


def _named(api: StratoClient, body: dict[str, Any], *refs: tuple[str, str, str]) -> None:
    """Friendly names in ``body`` (``zone=z1``), resolved to ids (``zone_id``) here."""
    for name_key, id_key, path in refs:
        if name_key in body:
            body[id_key] = _resolve(api, path, str(body.pop(name_key)))["id"]


def cmd_volume(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/volumes", **parse_pairs(args.filters)))
        emit(rows, args.json, VOLUME_COLUMNS)
        return 0
    if args.action == "show":
        emit(_resolve(api, "/volumes", args.ident), args.json)
        return 0
    body = parse_pairs(args.fields)
    if args.action == "create":
        _named(
            api,
            body,
            ("zone", "zone_id", "/zones"),
            ("offering", "disk_offering_id", "/disk-offerings"),
        )
        emit(api.post("/volumes", body), args.json)
        return 0
    vol = _resolve(api, "/volumes", args.ident)
    _named(api, body, ("vm", "vm_id", "/vms"), ("pool", "pool_id", "/storage-pools"))
    accepted = api.request("POST", f"/volumes/{vol['id']}/{args.action}", json=body or None)
    return follow(api, accepted, args)


SNAPSHOT_COLUMNS = ("id", "name", "volume_id", "state", "size_bytes", "created_at")


def cmd_snapshot(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/snapshots", **parse_pairs(args.filters)))
        emit(rows, args.json, SNAPSHOT_COLUMNS)
        return 0
    if args.action == "show":
        emit(_resolve(api, "/snapshots", args.ident), args.json)
        return 0
    if args.action == "take":
        vol = _resolve(api, "/volumes", args.ident)
        body = parse_pairs(args.fields)
        accepted = api.request("POST", f"/volumes/{vol['id']}/snapshots", json=body or None)
        return follow(api, accepted, args)
    snap = _resolve(api, "/snapshots", args.ident)
    if args.action in ("copy", "template"):  # a new volume, or a new template
        body = parse_pairs(args.fields)
        to = "volumes" if args.action == "copy" else "templates"
        return follow(api, api.post(f"/snapshots/{snap['id']}/{to}", body), args)
    if args.action == "backup":
        return follow(api, api.request("POST", f"/snapshots/{snap['id']}/backup"), args)
    if args.action == "delete":
        return follow(api, api.request("DELETE", f"/snapshots/{snap['id']}"), args)
    return follow(api, api.request("POST", f"/snapshots/{snap['id']}/revert"), args)


def cmd_backup(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        cols = ("id", "vm_id", "state", "size_bytes", "created_at")
        emit(list(api.list_all("/backups", **parse_pairs(args.filters))), args.json, cols)
        return 0
    body = parse_pairs(getattr(args, "fields", []))
    if args.action == "create":  # of a VM
        vm = _resolve(api, "/vms", args.ident)
        _named(api, body, ("offering", "offering_id", "/backup-offerings"))
        return follow(api, api.post(f"/vms/{vm['id']}/backups", body), args)
    if args.action == "restore":
        _named(api, body, ("volume", "volume_id", "/volumes"))
        return follow(api, api.post(f"/backups/{args.ident}/volumes", body), args)
    return follow(api, api.request("DELETE", f"/backups/{args.ident}"), args)


def cmd_policy(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/snapshot-policies", **parse_pairs(args.filters)))
        emit(
            rows, args.json, ("id", "volume_id", "interval_type", "schedule", "max_snaps", "paused")
        )
    elif args.action == "create":
        vol = _resolve(api, "/volumes", args.ident)
        emit(
            api.post(f"/volumes/{vol['id']}/snapshot-policies", parse_pairs(args.fields)), args.json
        )
    else:
        api.delete(f"/snapshot-policies/{args.ident}")
        print(f"deleted {args.ident}")
    return 0


def cmd_networks(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        emit(
            api.get("/networks"),
            args.json,
            ("id", "name", "cidr", "ip_start", "ip_end", "free_addresses", "is_default"),
        )
    else:
        emit(api.post("/networks", parse_pairs(args.fields)), args.json)
    return 0


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

    after = args.after
    while True:
        page = api.get("/events", after=after, limit=500, type=args.type)
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
    health = api.get("/health")
    status = api.get("/status")
    emit({**health, **status}, args.json)
    return 0 if health["status"] == "ok" else 1


def with_json(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    return sp


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
        if name == "templates":
            tc = with_json(acts.add_parser("copy", help="TEMPLATE zone=..|zone_id=.."))
            tc.add_argument("ident", metavar="ID|NAME")
            tc.add_argument("fields", nargs="+", metavar="key=value")
            tc.add_argument("--no-wait", action="store_true", help="return once accepted")
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
            help="e.g. force=true, service_offering_id=.., expunge=true",
        )
        vp.add_argument("--no-wait", action="store_true", help="return once accepted")
    vmp.set_defaults(handler=cmd_vm)

    volp = sub.add_parser("volume", help="data volumes: create, attach, detach, resize, destroy")
    volacts = volp.add_subparsers(dest="action", required=True)
    with_json(volacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    with_json(volacts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
    vc = with_json(volacts.add_parser("create", help="name=.. zone=..|zone_id=.. size_gb=.."))
    vc.add_argument("fields", nargs="+", metavar="key=value")
    for verb in VOLUME_VERBS:
        vv = with_json(volacts.add_parser(verb))
        vv.add_argument("ident", metavar="ID|NAME")
        vv.add_argument(
            "fields",
            nargs="*",
            metavar="key=value",
            help="e.g. vm=web1 (attach), size_gb=20 shrink_ok=true (resize), pool=p2 "
            "(migrate), expunge=true",
        )
        vv.add_argument("--no-wait", action="store_true", help="return once accepted")
    volp.set_defaults(handler=cmd_volume)

    snp = sub.add_parser("snapshot", help="volume snapshots: take, revert, delete")
    snacts = snp.add_subparsers(dest="action", required=True)
    with_json(snacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    with_json(snacts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
    tk = with_json(snacts.add_parser("take", help="VOLUME [name=..]"))
    tk.add_argument("ident", metavar="VOLUME")
    tk.add_argument("fields", nargs="*", metavar="key=value")
    tk.add_argument("--no-wait", action="store_true", help="return once accepted")
    helps = {
        "copy": "a new volume: SNAPSHOT name=..",
        "template": "a new template: SNAPSHOT name=..",
        "backup": "to the zone's image store",
    }
    for verb in ("revert", "delete", "copy", "template", "backup"):
        sv = with_json(snacts.add_parser(verb, help=helps.get(verb, "")))
        sv.add_argument("ident", metavar="ID|NAME")
        if verb in ("copy", "template"):
            sv.add_argument("fields", nargs="+", metavar="key=value")
        sv.add_argument("--no-wait", action="store_true", help="return once accepted")
    snp.set_defaults(handler=cmd_snapshot)

    bk = sub.add_parser("backup", help="VM backups: create (of a stopped VM), restore, delete")
    bkacts = bk.add_subparsers(dest="action", required=True)
    with_json(bkacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    for verb, what, fields in (
        ("create", "VM [offering=..]", "*"),
        ("restore", "BACKUP volume=.. name=..", "+"),
        ("delete", "BACKUP", "*"),
    ):
        bp = with_json(bkacts.add_parser(verb, help=what))
        bp.add_argument("ident", metavar=what.split()[0])
        bp.add_argument("fields", nargs=fields, metavar="key=value")
        bp.add_argument("--no-wait", action="store_true", help="return once accepted")
    bk.set_defaults(handler=cmd_backup)

    pol = sub.add_parser("snapshot-policy", help="recurring snapshots of a volume")
    polacts = pol.add_subparsers(dest="action", required=True)
    with_json(polacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    pc = with_json(
        polacts.add_parser(
            "create", help="VOLUME interval_type=DAILY schedule=MM:HH max_snaps=N [timezone=..]"
        )
    )
    pc.add_argument("ident", metavar="VOLUME")
    pc.add_argument("fields", nargs="+", metavar="key=value")
    with_json(polacts.add_parser("delete")).add_argument("ident", metavar="ID")
    pol.set_defaults(handler=cmd_policy)

    nets = sub.add_parser("networks", help="guest networks")
    nacts = nets.add_subparsers(dest="action", required=True)
    with_json(nacts.add_parser("list"))
    with_json(nacts.add_parser("create")).add_argument("fields", nargs="+", metavar="key=value")
    nets.set_defaults(handler=cmd_networks)

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
    tail.add_argument("-f", "--follow", action="store_true")
    ev.set_defaults(handler=cmd_events)

    keys = sub.add_parser("keys", help="admin API keys")
    kacts = keys.add_subparsers(dest="action", required=True)
    kc = with_json(kacts.add_parser("create"))
    kc.add_argument("name")
    kc.add_argument("--scope", choices=["admin", "read"], default="admin")
    with_json(kacts.add_parser("list"))
    with_json(kacts.add_parser("revoke")).add_argument("id")
    keys.set_defaults(handler=cmd_keys)
