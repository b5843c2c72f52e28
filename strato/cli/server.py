"""The server-side commands: run the platform's processes, migrate, and the doctor.

Each imports the server's modules only when it runs, so ``strato --help`` and the admin
commands stay light.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from strato.cli.output import console
from strato.settings import Settings

SERVER_COMMANDS = ("up", "api", "worker", "agent", "service", "migrate", "doctor")


def add_commands(sub: Any) -> None:
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
    agent.add_argument("kind", choices=["simulator", "compute", "network"])
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
    agent.add_argument(
        "--metrics-listen",
        default="",
        help="ADDRESS:PORT where Prometheus scrapes the agent's Temporal metrics",
    )
    agent.add_argument(
        "--health-listen",
        default="127.0.0.1:0",
        help="ADDRESS:PORT of the agent's health endpoint, which the services directory "
        "checks and (compute) a neighbour probes when this host goes silent (port 0: any "
        "free one); use the host's management address in production",
    )
    agent.add_argument("--bridge", default="", help="bridge for guest NICs (default: user-mode)")
    agent.add_argument("--domain-type", default="auto", choices=["auto", "kvm", "qemu"])
    agent.add_argument(
        "--ovs-db",
        default="unix:/var/run/openvswitch/db.sock",
        help="network: the host's OVS database (none answering: a private OVS is started)",
    )
    agent.add_argument("--ovs-bridge", default="br-strato", help="network: the integration bridge")
    agent.add_argument(
        "--ovs-netns", default=None, help="network: the namespace the switch runs in (if any)"
    )
    agent.add_argument(
        "--name-prefix", default="strato", help="network: prefix of router namespaces"
    )
    service = sub.add_parser(
        "service",
        help="run a platform service process",
        description="templates: the template service (downloads templates into image "
        "stores, checks and copies them); needs the image stores under STRATO_IMAGE_ROOTS",
    )
    service.add_argument("kind", choices=["templates"])
    service.add_argument(
        "--health-listen",
        default="127.0.0.1:0",
        help="ADDRESS:PORT of the health endpoint the services directory checks (port 0: "
        "any free one; the directory must reach it)",
    )
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


def run(args: argparse.Namespace) -> int:
    if args.command == "up":
        from strato.embedded.up import default_services
        from strato.embedded.up import run as run_up

        # `strato up` switches on the ACL service and the CloudStack-compatible API
        # unless STRATO_SERVICES says otherwise (its children inherit the choice).
        os.environ.setdefault("STRATO_SERVICES", default_services())
        return run_up(Settings())
    settings = Settings()
    if args.command == "doctor":
        return run_doctor(args, settings)
    if args.command == "events":  # strato events relay
        from strato.events import relay
        from strato.workers.lifecycle import run_until_signal

        run_until_signal(lambda stop: relay.run(settings, stop))
        return 0
    return run_process(args)


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
        from strato.api.tuning import tune_gc

        app = create_app(settings)
        tune_gc()
        uvicorn.run(
            app,
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        return 0
    from strato.workers import orchestrator, simulator_agent, template_service
    from strato.workers.lifecycle import run_until_signal

    if args.command == "service":
        run_until_signal(lambda stop: template_service.run(settings, stop, args.health_listen))
    elif args.command == "worker":
        run_until_signal(lambda stop: orchestrator.run(settings, stop))
    elif args.kind == "compute":
        return run_compute_agent(args, settings)
    elif args.kind == "network":
        from pathlib import Path

        from strato.workers.network_agent import NetworkAgent

        if not args.host:
            print("error: strato agent network needs --host", file=sys.stderr)
            return 2
        state = Path(args.state_dir).parent / "network"
        agent = NetworkAgent(
            settings,
            args.host,
            state,
            ovs_db=args.ovs_db,
            bridge=args.ovs_bridge,
            netns=args.ovs_netns,
            prefix=args.name_prefix,
            health_listen=args.health_listen,
        )
        run_until_signal(agent.run)
    else:
        run_until_signal(lambda stop: simulator_agent.run(settings, stop))
    return 0


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from strato.cli.output import table
    from strato.doctor import Report, examine
    from strato.schema.db import Database
    from strato.temporal import connect_to

    async def go() -> Report:
        db = await Database.connect(settings.resolved_database_url(), max_size=4)
        try:
            client = None
            if not args.db_only:
                try:
                    client = await connect_to(settings)
                except RuntimeError as err:
                    print(f"warning: Temporal unreachable ({err})", file=sys.stderr)
            return await examine(
                db,
                client,
                queue=settings.orchestration_queue,
                repair=args.repair,
                reach_s=args.reach_s,
                cache_idle_s=settings.template_cache_idle_s,
                templates_queue=settings.templates_queue,
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
        console.print(table(rows, cols))
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
        health_listen=args.health_listen,
        metrics_listen=args.metrics_listen,
    )
    return agent_main(settings, cfg)
