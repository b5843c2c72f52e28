"""``strato up``: the whole platform on embedded defaults, supervised in one command.

Children, in start order: PostgreSQL, Temporal dev server, orchestrator worker, simulated
host agents, API. Each is its own process (as in production); a child that dies is
restarted; Ctrl-C / SIGTERM stops them in reverse order; PDEATHSIG stops them if we are
killed outright, so no orphan survives us.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from strato.domain.directory.models import ServiceRegister
from strato.embedded import infra, postgres, temporal
from strato.embedded.demo import seed_demo
from strato.embedded.files import write_private
from strato.embedded.proc import child_preexec
from strato.schema import api_keys
from strato.schema.db import Database
from strato.schema.migrate import migrate_dsn
from strato.services import loader
from strato.services.base import Service
from strato.settings import Settings


class StartupError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Child:
    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    stop_signal: int = signal.SIGTERM

    def spawn(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            preexec_fn=child_preexec(None, pdeathsig=True),
            start_new_session=True,
        )

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(settings: Settings) -> None:
    wanted = [("API", settings.api_host, settings.api_port, "STRATO_API_PORT")]
    if settings.embedded_temporal:
        wanted += [
            ("Temporal frontend", "127.0.0.1", settings.temporal_port, "STRATO_TEMPORAL_PORT"),
            ("Temporal web UI", "127.0.0.1", settings.temporal_ui_port, "STRATO_TEMPORAL_UI_PORT"),
        ]
    taken = [
        f"port {port} on {host} ({what}) is already in use; set {env} to move it"
        for what, host, port, env in wanted
        if not port_free(host, port)
    ]
    if taken:
        raise StartupError("\n".join(taken))


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(f"{what} exited with {proc.returncode} while starting")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code < 500:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as err:
            last = str(err) or type(err).__name__
        time.sleep(0.1)
    raise StartupError(f"{what} did not answer {url} within {timeout}s ({last})")


def default_services() -> str:
    """The services `strato up` runs unless told: the ACL service and the
    CloudStack-compatible API, when the ACL's extra (argon2, cryptography) is installed."""
    import importlib.util

    if importlib.util.find_spec("argon2") is None:
        return ""
    return "acl,cloudstack_api"


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.logs = settings.data_dir / "logs"
        self.children: list[Child] = []
        self.stopping = False
        self.services: list[Service] = []
        self.amqp_url = ""  # set when `strato up` runs the broker
        self.amqp_credentials = ""
        self.registered: list[str] = []  # what it entered in the services directory

    def _step(self, n: int, total: int, what: str) -> float:
        print(f"[{n}/{total}] {what} ...", end=" ", flush=True)
        return time.monotonic()

    def _done(self, t0: float, extra: str = "") -> None:
        say(f"ready ({time.monotonic() - t0:.1f}s){' ' + extra if extra else ''}")

    def child_env(self) -> dict[str, str]:
        s = self.s
        # The demo zone's image store lies under the data directory.
        images = str(s.data_dir / "images")
        roots = s.image_roots if images in s.image_root_list else f"{s.image_roots}:{images}"
        return {
            "STRATO_IMAGE_ROOTS": roots,
            "STRATO_DATA_DIR": str(s.data_dir),
            "STRATO_DATABASE_URL": s.resolved_database_url(),
            "STRATO_TEMPORAL_ADDRESS": s.resolved_temporal_address(),
            "STRATO_TEMPORAL_UI_URL": s.resolved_temporal_ui_url(),
            "STRATO_API_URL": s.resolved_api_url(),
            **self._amqp_env(),
        }

    def _amqp_env(self) -> dict[str, str]:
        """The relay finds the private broker in the directory and gets only its
        credentials; with the directory off, its URL."""
        if not self.amqp_url:
            return {}
        if self.s.directory_register:
            return {"STRATO_AMQP_CREDENTIALS": self.amqp_credentials}
        return {"STRATO_AMQP_URL": self.amqp_url}

    def _enter(self, instances: list[ServiceRegister]) -> None:
        infra.register(self.s, instances)
        self.registered += [i.name for i in instances]

    def _rabbitmq(self) -> None:
        """A private RabbitMQ for the relay's AMQP sink (STRATO_EMBEDDED_RABBITMQ)."""
        from strato.embedded import rabbitmq

        print("      RabbitMQ ...", end=" ", flush=True)
        t0 = time.monotonic()
        if not rabbitmq.available():
            raise StartupError(
                "STRATO_EMBEDDED_RABBITMQ is set but rabbitmq-server is not installed "
                "(apt-get install rabbitmq-server)"
            )
        broker = rabbitmq.Rabbit(self.s.data_dir / "rabbitmq")
        broker.start()
        assert broker.epmd is not None and broker.server is not None
        self.children.append(Child("epmd", [], self.logs / "epmd.log", proc=broker.epmd))
        self.children.append(Child("rabbitmq", [], broker.root / "server.out", proc=broker.server))
        asyncio.run(broker.ready())
        self.amqp_url = broker.url
        self.amqp_credentials = f"strato:{broker.password}"
        self._enter([infra.broker(self.s, broker.port)])
        self._done(t0, f"(amqp://127.0.0.1:{broker.port}, exchange {self.s.amqp_exchange})")

    def _python_child(self, name: str, *cli: str) -> Child:
        return Child(
            name,
            [sys.executable, "-m", "strato.cli", *cli],
            self.logs / f"{name}.log",
            env=self.child_env(),
        )

    def start(self) -> None:
        s = self.s
        self.services = loader.enabled(s)  # a service switched on but missing stops us here
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        check_ports(s)
        total = 6
        t_all = time.monotonic()

        t0 = self._step(1, total, "PostgreSQL")
        if s.embedded_database:
            layout = postgres.PgLayout(s.data_dir / "pg")
            fresh = postgres.init(layout)
            pg = postgres.start(layout)
            self.children.append(
                Child("postgres", [], layout.log, proc=pg, stop_signal=signal.SIGINT)
            )
            postgres.wait_ready(layout, pg)
            postgres.ensure_database(layout)
            self._done(t0, "(new cluster)" if fresh else f"({layout.data})")
        else:
            say("external (STRATO_DATABASE_URL)")
        applied = asyncio.run(migrate_dsn(s.resolved_database_url(), loader.tracks(self.services)))
        if applied:
            say(f"      schema migrations applied: {', '.join(m.label for m in applied)}")

        t0 = self._step(2, total, "Temporal dev server")
        if s.embedded_temporal:
            tproc = temporal.start(
                s.data_dir / "temporal" / "temporal.db",
                self.logs / "temporal.log",
                port=s.temporal_port,
                ui_port=s.temporal_ui_port,
            )
            self.children.append(Child("temporal", [], self.logs / "temporal.log", proc=tproc))
            temporal.wait_port("127.0.0.1", s.temporal_port, tproc, 30, "Temporal")
            self._done(t0)
        else:
            say(f"external ({s.temporal_address})")

        if s.embedded_rabbitmq and not s.amqp_url:
            self._rabbitmq()
        t0 = self._step(
            3, total, "orchestrator, simulated agents, template service, event relay, API"
        )
        for child in (
            self._python_child("orchestrator", "worker", "orchestrator"),
            self._python_child("simulator-agent", "agent", "simulator"),
            self._python_child("template-service", "service", "templates"),
            self._python_child("event-relay", "events", "relay"),
            *(
                Child(
                    f"{svc.name}-{proc.name}",
                    [sys.executable, "-m", proc.module, *proc.args],
                    self.logs / f"{svc.name}-{proc.name}.log",
                    env=self.child_env(),
                )
                for svc in self.services
                for proc in svc.processes()
            ),
            self._python_child("api", "api", "--host", s.api_host, "--port", str(s.api_port)),
        ):
            child.spawn()
            self.children.append(child)
        api = self.children[-1]
        wait_http(f"{s.resolved_api_url()}/api/v1/health", api.proc, 60, "the API")
        self._done(t0)

        t0 = self._step(4, total, "Temporal web UI")
        if s.embedded_temporal:
            wait_http(s.resolved_temporal_ui_url(), None, 30, "the Temporal web UI")
            self._enter(infra.temporal(s))
            self._done(t0)
        else:
            say("external")

        t0 = self._step(5, total, "API key")
        token = asyncio.run(self._bootstrap_key())
        config = s.client_config_path
        if token is not None:
            write_private(config, json.dumps({"api_url": s.resolved_api_url(), "api_key": token}))
            self._done(t0, "(new bootstrap admin key)")
        else:
            self._done(t0, f"(issued before; see {config})")

        t0 = self._step(6, total, f"demo zone {s.demo_zone!r}")
        key = token or _read_key(config)
        if key is None:
            say("skipped (no API key in client config)")
        else:
            summary = seed_demo(s, key, progress=lambda m: print(m, end=" ", flush=True))
            self._done(t0, summary)

        say("")
        say(f"Strato is up in {time.monotonic() - t_all:.1f}s. Ctrl-C stops everything.")
        say(f"  API           {s.resolved_api_url()}/api/v1")
        say(f"  API docs      {s.resolved_api_url()}/docs")
        if "cloudstack_api" in s.service_names:
            say(f"  CloudStack    {s.resolved_api_url()}/client/api   (docs/cloudstack-api.md)")
        say(f"  Temporal UI   {s.resolved_temporal_ui_url()}")
        say(f"  Data dir      {s.data_dir}   (logs in {self.logs})")
        if token is not None:
            say(f"  Admin API key {token}")
            say(f"                (shown once; also saved for the CLI in {config}, mode 600)")
        say(f"  Try: curl -H 'Authorization: Bearer <key>' {s.resolved_api_url()}/api/v1/hosts")

    async def _bootstrap_key(self) -> str | None:
        db = await Database.connect(self.s.resolved_database_url(), max_size=1)
        try:
            async with db.tx() as conn:
                return await api_keys.create_bootstrap(conn)
        finally:
            await db.close()

    def supervise(self) -> None:
        """Restart children that die; return when asked to stop."""
        backoff: dict[str, float] = {}
        while not self.stopping:
            for child in self.children:
                if self.stopping or child.proc is None or child.proc.poll() is None:
                    continue
                if not child.args:
                    say(f"{child.name} exited with {child.proc.returncode}; stopping Strato")
                    self.stopping = True
                    break
                wait = backoff.get(child.name, 0.5)
                say(f"{child.name} exited with {child.proc.returncode}; restarting in {wait:.1f}s")
                time.sleep(wait)
                backoff[child.name] = min(wait * 2, 10.0)
                child.restarts += 1
                child.spawn()
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping = True
        infra.withdraw(self.s, self.registered)
        for child in reversed(self.children):
            if child.proc is not None and child.proc.poll() is None:
                print(f"stopping {child.name} ...", end=" ", flush=True)
                child.stop()
                say("done")


def _read_key(config: Path) -> str | None:
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return None
    key = data.get("api_key")
    return key if isinstance(key, str) else None


def run(settings: Settings) -> int:
    platform = Platform(settings)

    def on_signal(signum: int, _frame: object) -> None:
        platform.stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        platform.start()
        platform.supervise()
        return 0
    except KeyboardInterrupt:
        say("")
        return 0
    except (StartupError, subprocess.CalledProcessError, TimeoutError, RuntimeError) as e:
        say(f"\nstrato up failed: {e}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        platform.stop()
