"""CloudMonkey 5.3 (the `cloudmonkey` package), unchanged, against a real `strato up`:
`sync` builds its command cache from our listApis, then the scenario's VM lifecycle
by API key, and a password login's session. CloudMonkey 5.3 is Python 2 only (its
setup.py and modules are Python 2 syntax): it runs under a Python 2.7 found on the
machine, installed from the package index beside the test."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.system.cloudstack.conftest import StratoUp

pytestmark = pytest.mark.system


def python2() -> str | None:
    """A Python 2.7 that runs (a pyenv shim may name one it cannot run)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))
    candidates += [p for p in (shutil.which("python2.7"), shutil.which("python2")) if p]
    for candidate in candidates:
        ran = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[0] == 2"],
                             capture_output=True, timeout=30)  # fmt: skip
        if ran.returncode == 0:
            return candidate
    return None


class Monkey:
    def __init__(self, python: str, root: Path, up: StratoUp, **profile: str) -> None:
        self.python, self.root = python, root
        self.config = root / "config"
        lines = [
            "[core]",
            "profile = local",
            "asyncblock = true",
            "paramcompletion = false",
            f"cache_file = {root}/cache",
            f"history_file = {root}/history",
            f"log_file = {root}/log",
            "[ui]",
            "color = false",
            "display = json",
            "[local]",
            f"url = {up.endpoint}",
            "timeout = 600",
            "expires = 600",
            "signatureversion = 3",
            "verifysslcert = false",
            "domain = /",
        ]
        lines += [f"{k} = {v}" for k, v in profile.items()]
        self.config.write_text("\n".join(lines) + "\n")

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [self.python, str(self.root.parent / "cm" / "bin" / "cloudmonkey"),
             "-c", str(self.config), *args],
            env={**os.environ, "HOME": str(self.root), "PYTHONPATH": str(self.root.parent / "cm"),
                 "PIP_CONSTRAINT": ""},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # its colours

    def json(self, *args: str) -> dict[str, Any]:
        out = self(*args)
        found: dict[str, Any] = json.loads(out[out.index("{") : out.rindex("}") + 1])
        return found


@pytest.fixture(scope="module")
def monkey_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    python = python2()
    if python is None:
        pytest.skip("no Python 2.7 on this machine: CloudMonkey 5.3 runs on Python 2 only")
    home = tmp_path_factory.mktemp("cloudmonkey")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-warn-script-location", "--target", str(home / "cm"), "cloudmonkey==5.3.3.1"],
        env={**os.environ, "PIP_CONSTRAINT": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return python, home


def test_cloudmonkey_sync_and_vm_lifecycle(
    strato_up: StratoUp, monkey_home: tuple[str, Path]
) -> None:
    python, home = monkey_home
    (home / "key").mkdir(exist_ok=True)
    who = strato_up.account()
    cm = Monkey(python, home / "key", strato_up, apikey=who["key"], secretkey=who["secret"])
    synced = cm("sync")
    assert "APIs discovered and cached" in synced, synced
    zone = cm.json("list", "zones", "name=demo")["zone"][0]
    offering = cm.json("list", "serviceofferings", "name=small")["serviceoffering"][0]
    template = cm.json("list", "templates", "templatefilter=executable", "name=tiny-linux")
    iso = cm.json("list", "networkofferings", "guestiptype=Isolated")["networkoffering"][0]
    net = cm.json("create", "network", "name=cm-net", "displaytext=cm-net",
                  f"zoneid={zone['id']}", f"networkofferingid={iso['id']}")["network"]  # fmt: skip
    deployed = cm.json(
        "deploy", "virtualmachine", f"zoneid={zone['id']}",
        f"serviceofferingid={offering['id']}", f"templateid={template['template'][0]['id']}",
        f"networkids={net['id']}", "name=cm-web",
    )  # fmt: skip
    vm = deployed["jobresult"]["virtualmachine"]
    assert deployed["jobstatus"] == 1 and vm["state"] == "Running", deployed
    stopped = cm.json("stop", "virtualmachine", f"id={vm['id']}")
    assert stopped["jobresult"]["virtualmachine"]["state"] == "Stopped"
    started = cm.json("start", "virtualmachine", f"id={vm['id']}")
    assert started["jobresult"]["virtualmachine"]["state"] == "Running"
    cm.json("destroy", "virtualmachine", f"id={vm['id']}", "expunge=true")
    assert "virtualmachine" not in cm("list", "virtualmachines", f"id={vm['id']}")


def test_cloudmonkey_password_login(strato_up: StratoUp, monkey_home: tuple[str, Path]) -> None:
    python, home = monkey_home
    (home / "login").mkdir(exist_ok=True)
    who = strato_up.account()
    cm = Monkey(python, home / "login", strato_up, apikey="", secretkey="",
                username=who["username"], password=who["password"])  # fmt: skip
    zones = cm.json("list", "zones")
    assert "demo" in {z["name"] for z in zones["zone"]}
    pairs = cm.json("create", "sshkeypair", "name=cm-key")
    assert pairs["keypair"]["name"] == "cm-key"
