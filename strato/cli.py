"""The ``strato`` command: run the platform's processes and manage it from a shell.

Human tables by default, ``--json`` for scripts. The API URL and key come from
STRATO_API_URL / STRATO_API_KEY or the client config that ``strato up`` writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from strato.sdk.client import StratoApiError, StratoClient
from strato.services import loader
from strato.services.base import Service
from strato.settings import Settings

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
    "templates": ("/templates", ("id", "name", "format", "os_type", "state")),
    "affinity-groups": ("/affinity-groups", ("id", "name", "kind", "strict", "owner")),
}
VM_COLUMNS = ("id", "name", "state", "cpu_count", "memory_mb", "host_id", "owner")
VM_VERBS = ("start", "stop", "reboot", "scale", "destroy", "recover", "expunge")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "-" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def emit(data: Any, as_json: bool, columns: Sequence[str] | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        print(table(data, columns or sorted({k for r in data for k in r})))
    else:
        width = max((len(k) for k in data), default=0)
        for k, v in data.items():
            print(f"{k.ljust(width)}  {json.dumps(v) if isinstance(v, dict | list) else v}")


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


def print_progress(op: dict[str, Any]) -> None:
    detail = f" - {op['detail']}" if op.get("detail") else ""
    print(f"  [{op['progress']:3d}%] {op['state']}: {op['step']}{detail}", flush=True)


def cmd_resource(args: argparse.Namespace, api: StratoClient) -> int:
    path, columns = RESOURCES[args.resource]
    if args.action == "list":
        rows = list(api.list_all(path, **parse_pairs(args.filters)))
        emit(rows, args.json, columns)
    elif args.action == "show":
        emit(_resolve(api, path, args.ident), args.json)
    elif args.action == "create":
        body = parse_pairs(args.fields)
        result = api.post(path, body)
        if "operation" in result:  # asynchronous (hosts): follow it unless --no-wait
            return follow(api, result, args)
        emit(result, args.json)
    elif args.action == "delete":
        target = _resolve(api, path, args.ident)
        api.delete(f"{path}/{target['id']}")
        print(f"deleted {target['id']}")
    return 0


def follow(api: StratoClient, accepted: dict[str, Any], args: argparse.Namespace) -> int:
    """Show the operation's steps live until it ends (or return at once with --no-wait)."""
    op = accepted["operation"]
    if not args.no_wait:
        if not args.json:
            print(f"operation {op['id']} ({op['kind']})", flush=True)
        op = api.wait_operation(op["id"], on_change=None if args.json else print_progress)
    if args.json:
        emit({"operation": op, "resource": accepted.get("resource")}, True)
    elif op.get("error"):
        print(f"failed: {op['error']['type']}: {op['error']['message']}", file=sys.stderr)
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
        for name_key, id_key, path in (
            ("zone", "zone_id", "/zones"),
            ("offering", "service_offering_id", "/service-offerings"),
            ("template", "template_id", "/templates"),
        ):
            if name_key in body:  # friendly names, resolved to ids here
                body[id_key] = _resolve(api, path, str(body.pop(name_key)))["id"]
        return follow(api, api.post("/vms", body), args)
    vm = _resolve(api, "/vms", args.ident)
    body = parse_pairs(args.fields)
    return follow(
        api, api.request("POST", f"/vms/{vm['id']}/{args.action}", json=body or None), args
    )


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
        op = api.wait_operation(
            args.id, on_change=None if args.json else print_progress, timeout=args.timeout
        )
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
                print(
                    f"{ev['id']:>8} {ev['time']} {ev['type']} {ev.get('subject', '')}{change}",
                    flush=True,
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


def build_parser(services: Sequence[Service] = ()) -> argparse.ArgumentParser:
    """The core's commands, then those of the switched-on ``services``."""
    p = argparse.ArgumentParser(prog="strato", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("up", help="run the whole platform on embedded defaults")
    api = sub.add_parser("api", help="run the REST API process")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    worker = sub.add_parser("worker", help="run a worker process")
    worker.add_argument("kind", choices=["orchestrator"])
    agent = sub.add_parser(
        "agent",
        help="run a subsystem agent",
        description="simulator: every simulated host and pool. compute: one real host "
        "(libvirt), e.g. strato agent compute --host kvm1 --zone z1 --cluster c1",
    )
    agent.add_argument("kind", choices=["simulator", "compute"])
    agent.add_argument("--host", help="compute: the host's name (names compute@<host>)")
    agent.add_argument("--zone", help="compute: zone of the host's cluster")
    agent.add_argument("--cluster", help="compute: the kvm cluster the host joins")
    agent.add_argument("--pod", default=None, help="compute: pod, if the cluster name repeats")
    agent.add_argument("--libvirt-uri", default="qemu:///system")
    agent.add_argument("--driver", default="libvirt", help="hypervisor driver (entry point)")
    agent.add_argument("--state-dir", default="/var/lib/strato/agent", help="agent identity")
    agent.add_argument("--heartbeat-s", type=float, default=10.0)
    agent.add_argument("--console-dir", default="/var/lib/strato/console")
    agent.add_argument("--vnc-listen", default="127.0.0.1")
    agent.add_argument("--bridge", default="", help="bridge for guest NICs (default: user-mode)")
    agent.add_argument("--domain-type", default="auto", choices=["auto", "kvm", "qemu"])
    sub.add_parser("migrate", help="apply pending schema migrations and exit")
    doc = sub.add_parser(
        "doctor",
        help="find discrepancies between records, counters and the drivers",
        description="Compares capacity counters, claims, IP allocations, VM and volume "
        "records with each other and with what the hosts' and pools' agents report. "
        "Prints each discrepancy with the fix --repair applies. Exit status 1 when "
        "anything is found, 0 when clean, 2 when the database cannot be reached.",
    )
    doc.add_argument("--repair", action="store_true", help="apply every fix")
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    doc.add_argument("--db-only", action="store_true", help="do not ask Temporal or agents")
    doc.add_argument(
        "--reach-s", type=float, default=10.0, help="seconds an agent may take to answer"
    )

    def with_json(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        return sp

    with_json(sub.add_parser("status", help="health and summary of a running platform"))
    for name in RESOURCES:
        rp = sub.add_parser(name, help=f"manage {name}")
        acts = rp.add_subparsers(dest="action", required=True)
        with_json(acts.add_parser("list")).add_argument("filters", nargs="*", metavar="key=value")
        with_json(acts.add_parser("show")).add_argument("ident", metavar="ID|NAME")
        cp = with_json(acts.add_parser("create"))
        cp.add_argument("fields", nargs="+", metavar="key=value")
        cp.add_argument("--no-wait", action="store_true", help="return once accepted")
        with_json(acts.add_parser("delete")).add_argument("ident", metavar="ID|NAME")
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
    for service in services:
        service.add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        services = loader.enabled(Settings())
    except loader.ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = build_parser(services).parse_args(argv)
    if args.command == "up":
        from strato.embedded.up import run

        return run(Settings())
    if args.command in ("api", "worker", "agent", "migrate"):
        return run_process(args)
    if args.command == "doctor":
        return run_doctor(args, Settings())
    if args.command == "status":
        args.handler = cmd_status
    api = StratoClient.from_env(Settings().data_dir)
    try:
        code: int = args.handler(args, api)
        return code
    except StratoApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        api.close()


def run_process(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.command == "migrate":
        import asyncio

        from strato.schema.migrate import migrate_dsn
        from strato.services import loader

        tracks = loader.tracks(loader.enabled(settings))
        applied = asyncio.run(migrate_dsn(settings.resolved_database_url(), tracks))
        print(f"applied: {', '.join(m.label for m in applied) or 'nothing (up to date)'}")
        return 0
    if args.command == "api":
        import uvicorn

        from strato.api.app import create_app

        uvicorn.run(
            create_app(settings),
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        return 0
    from strato.workers import orchestrator, simulator_agent
    from strato.workers.lifecycle import run_until_signal

    if args.command == "worker":
        run_until_signal(lambda stop: orchestrator.run(settings, stop))
    elif args.kind == "compute":
        return run_compute_agent(args, settings)
    else:
        run_until_signal(lambda stop: simulator_agent.run(settings, stop))
    return 0


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from strato.doctor import Report, examine
    from strato.schema.db import Database
    from strato.temporal import connect

    async def go() -> Report:
        db = await Database.connect(settings.resolved_database_url(), max_size=4)
        try:
            client = None
            if not args.db_only:
                try:
                    client = await connect(
                        settings.resolved_temporal_address(), settings.temporal_namespace
                    )
                except RuntimeError as err:
                    print(f"warning: Temporal unreachable ({err})", file=sys.stderr)
            return await examine(
                db,
                client,
                queue=settings.orchestration_queue,
                repair=args.repair,
                reach_s=args.reach_s,
            )
        finally:
            await db.close()

    try:
        report = asyncio.run(go())
    except OSError as err:
        print(f"error: cannot reach the database: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.clean else 1
    compared = f"{report.hosts_compared} host(s), {report.pools_compared} pool(s) compared"
    if report.clean:
        print(f"strato doctor: no discrepancy ({compared})")
    else:
        rows = [f.as_dict() for f in report.findings]
        cols = ["check", "resource", "detail", "fix"] + (["repaired"] if args.repair else [])
        print(f"strato doctor: {len(rows)} discrepancies ({compared})")
        print(table(rows, cols))
    for note in report.notes:
        print(f"note: {note}")
    if not report.clean and not args.repair:
        print("Run `strato doctor --repair` to apply the fixes listed.")
    return 0 if report.clean else 1


def run_compute_agent(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from strato.workers.compute_agent import AgentConfig
    from strato.workers.compute_agent import main as agent_main

    missing = [f"--{n}" for n in ("host", "zone", "cluster") if not getattr(args, n)]
    if missing:
        print(f"error: strato agent compute needs {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.heartbeat_s <= 0:
        print("error: --heartbeat-s must be positive", file=sys.stderr)
        return 2
    cfg = AgentConfig(
        host=args.host,
        zone=args.zone,
        cluster=args.cluster,
        pod=args.pod,
        driver=args.driver,
        libvirt_uri=args.libvirt_uri,
        state_dir=Path(args.state_dir),
        heartbeat_s=args.heartbeat_s,
        console_dir=Path(args.console_dir),
        vnc_listen=args.vnc_listen,
        bridge=args.bridge,
        domain_type=args.domain_type,
    )
    return agent_main(settings, cfg)


if __name__ == "__main__":
    sys.exit(main())
