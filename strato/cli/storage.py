"""The storage commands: volumes, snapshots, snapshot policies, VM snapshots, VM backups
and backup schedules, over the REST API through :mod:`strato.sdk` only."""

from __future__ import annotations

import argparse
from typing import Any

from strato.cli.common import follow, named, parse_pairs, resolve, with_json
from strato.cli.output import emit
from strato.sdk.client import StratoClient

VOLUME_COLUMNS = ("id", "name", "kind", "state", "size_bytes", "vm_id", "device_id", "pool_id")
VOLUME_VERBS = ("attach", "detach", "resize", "migrate", "destroy", "recover", "expunge")


def cmd_volume(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/volumes", **parse_pairs(args.filters)))
        emit(rows, args.json, VOLUME_COLUMNS)
        return 0
    if args.action == "show":
        emit(resolve(api, "/volumes", args.ident), args.json)
        return 0
    body = parse_pairs(args.fields)
    if args.action == "create":
        named(
            api,
            body,
            ("zone", "zone_id", "/zones"),
            ("offering", "disk_offering_id", "/disk-offerings"),
        )
        emit(api.post("/volumes", body), args.json)
        return 0
    vol = resolve(api, "/volumes", args.ident)
    named(api, body, ("vm", "vm_id", "/vms"), ("pool", "pool_id", "/storage-pools"))
    accepted = api.request("POST", f"/volumes/{vol['id']}/{args.action}", json=body or None)
    return follow(api, accepted, args)


SNAPSHOT_COLUMNS = ("id", "name", "volume_id", "state", "size_bytes", "created_at")


def cmd_snapshot(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/snapshots", **parse_pairs(args.filters)))
        emit(rows, args.json, SNAPSHOT_COLUMNS)
        return 0
    if args.action == "show":
        emit(resolve(api, "/snapshots", args.ident), args.json)
        return 0
    if args.action == "take":
        vol = resolve(api, "/volumes", args.ident)
        body = parse_pairs(args.fields)
        accepted = api.request("POST", f"/volumes/{vol['id']}/snapshots", json=body or None)
        return follow(api, accepted, args)
    snap = resolve(api, "/snapshots", args.ident)
    if args.action in ("copy", "template"):  # a new volume, or a new template
        body = parse_pairs(args.fields)
        to = "volumes" if args.action == "copy" else "templates"
        return follow(api, api.post(f"/snapshots/{snap['id']}/{to}", body), args)
    if args.action == "backup":
        return follow(api, api.request("POST", f"/snapshots/{snap['id']}/backup"), args)
    if args.action == "delete":
        return follow(api, api.request("DELETE", f"/snapshots/{snap['id']}"), args)
    return follow(api, api.request("POST", f"/snapshots/{snap['id']}/revert"), args)


VM_SNAPSHOT_COLUMNS = ("id", "name", "vm_id", "state", "memory", "vm_state", "created_at")


def cmd_vm_snapshot(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/vm-snapshots", **parse_pairs(args.filters)))
        emit(rows, args.json, VM_SNAPSHOT_COLUMNS)
        return 0
    if args.action == "show":
        emit(resolve(api, "/vm-snapshots", args.ident), args.json)
        return 0
    if args.action == "take":
        vm = resolve(api, "/vms", args.ident)
        body = parse_pairs(args.fields)
        accepted = api.request("POST", f"/vms/{vm['id']}/vm-snapshots", json=body or None)
        return follow(api, accepted, args)
    snap = resolve(api, "/vm-snapshots", args.ident)
    if args.action == "delete":
        return follow(api, api.request("DELETE", f"/vm-snapshots/{snap['id']}"), args)
    return follow(api, api.request("POST", f"/vm-snapshots/{snap['id']}/revert"), args)


def cmd_backup(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        cols = ("id", "vm_id", "state", "size_bytes", "created_at")
        emit(list(api.list_all("/backups", **parse_pairs(args.filters))), args.json, cols)
        return 0
    body = parse_pairs(getattr(args, "fields", []))
    if args.action == "create":  # of a VM
        vm = resolve(api, "/vms", args.ident)
        named(api, body, ("offering", "offering_id", "/backup-offerings"))
        return follow(api, api.post(f"/vms/{vm['id']}/backups", body), args)
    if args.action == "restore":
        named(api, body, ("volume", "volume_id", "/volumes"))
        return follow(api, api.post(f"/backups/{args.ident}/volumes", body), args)
    if args.action == "restore-vm":
        named(api, body, ("offering", "service_offering_id", "/service-offerings"))
        return follow(api, api.post(f"/backups/{args.ident}/vms", body), args)
    return follow(api, api.request("DELETE", f"/backups/{args.ident}"), args)


SCHEDULE_COLUMNS = ("id", "vm_id", "interval_type", "schedule", "timezone", "schedule_id")


def cmd_backup_schedule(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/backup-schedules", **parse_pairs(args.filters)))
        emit(rows, args.json, SCHEDULE_COLUMNS)
    elif args.action == "create":
        vm = resolve(api, "/vms", args.ident)
        emit(api.post(f"/vms/{vm['id']}/backup-schedules", parse_pairs(args.fields)), args.json)
    else:
        api.delete(f"/backup-schedules/{args.ident}")
        print(f"deleted {args.ident}")
    return 0


def cmd_policy(args: argparse.Namespace, api: StratoClient) -> int:
    if args.action == "list":
        rows = list(api.list_all("/snapshot-policies", **parse_pairs(args.filters)))
        emit(
            rows, args.json, ("id", "volume_id", "interval_type", "schedule", "max_snaps", "paused")
        )
    elif args.action == "create":
        vol = resolve(api, "/volumes", args.ident)
        emit(
            api.post(f"/volumes/{vol['id']}/snapshot-policies", parse_pairs(args.fields)), args.json
        )
    else:
        api.delete(f"/snapshot-policies/{args.ident}")
        print(f"deleted {args.ident}")
    return 0


def add_commands(sub: Any) -> None:
    """The storage commands, as subcommands of ``strato``."""
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

    vms = sub.add_parser("vm-snapshot", help="VM snapshots (disks, and memory): take, revert")
    vmsacts = vms.add_subparsers(dest="action", required=True)
    with_json(vmsacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    with_json(vmsacts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
    vt = with_json(vmsacts.add_parser("take", help="VM [name=..] [memory=true] [description=..]"))
    vt.add_argument("ident", metavar="VM")
    vt.add_argument("fields", nargs="*", metavar="key=value")
    vt.add_argument("--no-wait", action="store_true", help="return once accepted")
    for verb in ("revert", "delete"):
        vv = with_json(vmsacts.add_parser(verb))
        vv.add_argument("ident", metavar="ID|NAME")
        vv.add_argument("--no-wait", action="store_true", help="return once accepted")
    vms.set_defaults(handler=cmd_vm_snapshot)

    bk = sub.add_parser("backup", help="VM backups: create, restore (a volume or a VM), delete")
    bkacts = bk.add_subparsers(dest="action", required=True)
    with_json(bkacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    for verb, what, fields in (
        ("create", "VM [offering=..]", "*"),
        ("restore", "BACKUP volume=.. name=..", "+"),
        ("restore-vm", "BACKUP name=.. [offering=..] [start=false]", "+"),
        ("delete", "BACKUP", "*"),
    ):
        bp = with_json(bkacts.add_parser(verb, help=what))
        bp.add_argument("ident", metavar=what.split()[0])
        bp.add_argument("fields", nargs=fields, metavar="key=value")
        bp.add_argument("--no-wait", action="store_true", help="return once accepted")
    bk.set_defaults(handler=cmd_backup)

    bs = sub.add_parser("backup-schedule", help="recurring backups of a VM (its offering's)")
    bsacts = bs.add_subparsers(dest="action", required=True)
    with_json(bsacts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
    bc = with_json(
        bsacts.add_parser("create", help="VM interval_type=DAILY schedule=MM:HH [timezone=..]")
    )
    bc.add_argument("ident", metavar="VM")
    bc.add_argument("fields", nargs="+", metavar="key=value")
    with_json(bsacts.add_parser("delete")).add_argument("ident", metavar="ID")
    bs.set_defaults(handler=cmd_backup_schedule)

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
