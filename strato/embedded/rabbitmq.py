"""A private RabbitMQ: Debian's rabbitmq-server run by hand (as root, no service), with
its own epmd, ports, node name and data under one directory (see
../shared/notes/services-lab.md). The tests and the events bench run one; a test may
kill -9 it and start it again on the same data."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aio_pika


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def available() -> bool:
    return SERVER.exists() and shutil.which("epmd") is not None


def _kept(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


class Rabbit:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        # The node name and the password are the broker's data's: kept across restarts
        # (the user is made on the first boot only; the data dir is named after the node).
        self.node = _kept(root / "node", lambda: f"strato{uuid.uuid4().hex[:8]}@localhost")
        self.password = _kept(root / "password", lambda: secrets.token_hex(12))
        self.port = port or _free_port()
        self.dist_port = _free_port()
        self.epmd_port = _free_port()
        self.url = f"amqp://strato:{self.password}@127.0.0.1:{self.port}/"
        self.epmd: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16))
            cookie.chmod(0o400)
        conf = root / "rabbitmq.conf"
        conf.write_text(f"default_user = strato\ndefault_pass = {self.password}\n")
        conf.chmod(0o600)  # it holds the password
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbit.pid"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(_free_port()),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        if self.epmd is None or self.epmd.poll() is not None:
            self.epmd = subprocess.Popen(
                ["epmd", "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.server = subprocess.Popen(
            [str(SERVER)],
            env=self.env,
            stdout=(self.root / "server.out").open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def ready(self, wait_s: float = 60.0) -> None:
        """Until a client connects (the broker's exit code says nothing: poll it)."""
        deadline = time.monotonic() + wait_s
        # Refused connections are expected while it boots: not worth a log line each.
        loggers = [logging.getLogger(n) for n in ("aio_pika", "aiormq")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        try:
            while True:
                try:
                    conn = await aio_pika.connect(self.url, timeout=2)
                    await conn.close()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)

    def _beam(self) -> int | None:
        try:
            return int((self.root / "rabbit.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """kill -9 of the broker (its Erlang VM), as a crash."""
        pid = self._beam()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        if self.server is not None:
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        (self.root / "rabbit.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        pid = self._beam()
        if self.server is not None and self.server.poll() is None:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        if self.epmd is not None and self.epmd.poll() is None:
            self.epmd.terminate()
            self.epmd.wait(10)
