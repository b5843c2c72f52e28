"""`strato up` as an operator runs it: one command, a real subprocess tree, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.embedded.proc import alive
from strato.temporal import connect, retention
from tests.conftest import free_port
from tests.images_http import serving

pytestmark = pytest.mark.system


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


class Up:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "strato.cli", "up"],
            env={**os.environ, **env, "STRATO_DATA_DIR": str(data_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []

    def wait_for(self, marker: str, timeout: float = 90) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if marker in line:
                return "".join(self.output)
        raise AssertionError(f"no {marker!r} in output:\n{''.join(self.output)}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=60)
        self.output.append(out)
        return self.proc.returncode


async def _zone_event_over_amqp(url: str, api: str, auth: dict[str, str]) -> Any:
    """Bind a queue to strato.zone.#, make a zone, read its event from the queue."""
    import aio_pika

    conn = await aio_pika.connect(url)
    async with conn:
        channel = await conn.channel()
        exchange = await channel.declare_exchange(
            "strato.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(exchange, "strato.zone.#")
        async with httpx.AsyncClient(headers=auth) as client:
            r = await client.post(f"{api}/zones", json={"name": "amqp-zone"})
            assert r.status_code == 201, r.text
        for _ in range(300):
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return json.loads(message.body)
            await asyncio.sleep(0.1)
    raise AssertionError("no zone event over AMQP within 30 s")


async def _retention(port: str) -> timedelta:
    client = await connect(f"127.0.0.1:{port}")
    return await retention(client)


@pytest.fixture
def ports() -> Iterator[dict[str, str]]:
    yield {
        "STRATO_API_PORT": str(free_port()),
        "STRATO_TEMPORAL_PORT": str(free_port()),
        "STRATO_TEMPORAL_UI_PORT": str(free_port()),
        "STRATO_DEMO_HOSTS": "3",
        "STRATO_TEMPORAL_RETENTION_DAYS": "3",
    }


ROOT = Path(__file__).resolve().parents[2]


def _sdk_alone(venv: Path) -> subprocess.Popen[bytes]:
    """A fresh venv with ``pip install`` of this checkout and no extras: the SDK alone
    (started beside ``strato up``, which takes as long)."""
    script = f"{sys.executable} -m venv {venv} && {venv}/bin/pip install -q {ROOT}"
    return subprocess.Popen(
        ["/bin/sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _check_sdk_alone(venv: Path, installing: subprocess.Popen[bytes], data: Path) -> None:
    out, _ = installing.communicate(timeout=300)
    assert installing.returncode == 0, out.decode()[-2000:]
    python = str(venv / "bin" / "python")
    # none of the server's packages came with it, and the command says what is missing
    missing = subprocess.run(
        [python, "-c", "import fastapi"], capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0 and "fastapi" in missing.stderr
    command = subprocess.run(
        [str(venv / "bin" / "strato"), "status"], capture_output=True, text=True, check=False
    )
    assert command.returncode == 2 and "strato[server]" in command.stderr, command.stderr

    def sdk_script(path: Path, timeout_s: float) -> Any:
        """A script run on the SDK alone against this platform: its JSON output."""
        done = subprocess.run(
            [python, str(path), "demo"],
            env={**os.environ, "STRATO_DATA_DIR": str(data), "PYTHONPATH": ""},
            cwd=venv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
        return json.loads(done.stdout)

    # the quickstart
    quick = sdk_script(ROOT / "examples" / "sdk" / "quickstart.py", 120)
    assert quick["states"] == ["Running", "Stopped", "Expunged"], quick
    assert quick["steps"][-1].endswith("100%"), quick
    # the SDK's checks (tests/sdk/live_suite.py)
    live = sdk_script(ROOT / "tests" / "sdk" / "live_suite.py", 180)
    assert len(live["passed"]) == 4, live
    # end users of the ACL service, signing with their key pairs
    users = sdk_script(ROOT / "tests" / "sdk" / "acl_suite.py", 180)
    assert len(users["passed"]) == 4, users
    # example (b): a managed service from 2 to 6 instances on the load it reports, back
    # to 2, then removed
    figures = sdk_script(ROOT / "examples" / "services" / "autoscale.py", 300)
    steps = [(e["old"], e["new"]) for e in figures["scaled"]]
    assert steps == [(2, 4), (4, 6), (6, 4), (4, 2)], figures
    assert figures["listed_at_6"] == 6, figures


def _orchestrator_of(up_pid: int) -> int:
    for pid in descendants(up_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in cmd and b"orchestrator" in cmd:
            return pid
    raise AssertionError("no orchestrator under strato up")


def _bluegreen_on_up(
    tmp_path: Path, data: Path, api: str, auth: dict[str, str], temporal_port: str, up_pid: int
) -> None:
    """Example (a) on the SDK alone against this platform: guest networking for the demo
    zone, then two redeploys; during the second, the developer's worker and strato up's
    orchestrator are each killed -9 (strato up restarts its own). The new generation
    ends serving behind the rules, the old one expunged."""
    python = str(tmp_path / "sdk-venv" / "bin" / "python")
    run = str(ROOT / "examples" / "bluegreen" / "run.py")
    env = {
        **os.environ,
        "STRATO_DATA_DIR": str(data),
        "STRATO_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "PYTHONPATH": "",
    }

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(f"{api}{path}", json=body, headers=auth, timeout=30)
        assert r.status_code in (200, 201, 202), r.text
        got: dict[str, Any] = r.json()
        return got

    def get(path: str) -> Any:
        return httpx.get(f"{api}{path}", headers=auth, timeout=30).json()

    zone = get("/zones?name=demo")["items"][0]["id"]
    phy = post(
        "/physical-networks",
        {
            "zone_id": zone,
            "name": "phy-bg",
            "traffic_types": ["guest", "public"],
            "vnets": {"start": 300, "end": 309},
        },
    )
    post(
        "/public-ip-ranges",
        {
            "zone_id": zone,
            "gateway": "198.51.100.1",
            "netmask": "255.255.255.0",
            "start": "198.51.100.10",
            "end": "198.51.100.13",
        },
    )
    net = post(
        "/networks",
        {
            "zone_id": zone,
            "name": "bg",
            "kind": "isolated",
            "cidr": "10.77.0.0/24",
            "physical_network_id": phy["id"],
        },
    )
    ip = post("/public-ips", {"zone_id": zone, "network_id": net["id"]})
    spec: dict[str, Any] = {
        "group": "web",
        "generation": 1,
        "size": 2,
        "zone_id": zone,
        "service_offering_id": get("/service-offerings?name=small")["items"][0]["id"],
        "template_id": get("/templates?name=tiny-linux")["items"][0]["id"],
        "network_id": net["id"],
        "ip_id": ip["id"],
        "base_port": 8080,
        "private_port": 80,
        "serving": [],
    }
    log = open(tmp_path / "bluegreen-worker.log", "ab")  # noqa: SIM115 - shared by two workers

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [python, run, "worker", "--app", "bg"], env=env, stdout=log, stderr=log
        )

    def redeploy(n: int) -> subprocess.Popen[str]:
        path = tmp_path / f"spec{n}.json"
        path.write_text(json.dumps(spec))
        return subprocess.Popen(
            [python, run, "redeploy", str(path), "--app", "bg"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    serving = worker()
    try:
        out, err = redeploy(1).communicate(timeout=180)
        blue = json.loads(out)
        assert [m["name"] for m in blue["serving"]] == ["web-g1-0", "web-g1-1"], err
        spec.update(generation=2, serving=blue["serving"])
        second = redeploy(2)
        time.sleep(1.5)
        serving.send_signal(signal.SIGKILL)
        serving.wait(10)
        os.kill(_orchestrator_of(up_pid), signal.SIGKILL)
        serving = worker()
        out, err = second.communicate(timeout=240)
        assert second.returncode == 0, err
        green = json.loads(out)
    finally:
        serving.terminate()
        serving.wait(30)
        log.close()
    assert [m["name"] for m in green["serving"]] == ["web-g2-0", "web-g2-1"]
    states = {v["name"]: v["state"] for v in get("/vms?limit=500")["items"]}
    assert {k: v for k, v in states.items() if k.startswith("web-")} == {
        "web-g1-0": "Expunged",
        "web-g1-1": "Expunged",
        "web-g2-0": "Running",
        "web-g2-1": "Running",
    }
    rules = get(f"/public-ips/{ip['id']}/port-forwarding-rules")
    items = rules["items"] if isinstance(rules, dict) else rules
    assert sorted((r["public_start"], r["vm_id"]) for r in items) == [
        (8080 + i, m["vm"]) for i, m in enumerate(green["serving"])
    ]


def test_up_serves_stops_cleanly_and_restarts_with_state(
    tmp_path: Path, ports: dict[str, str]
) -> None:
    data = tmp_path / "strato"
    installing = _sdk_alone(tmp_path / "sdk-venv")
    api = f"http://127.0.0.1:{ports['STRATO_API_PORT']}/api/v1"
    up = Up(
        data,
        {
            **ports,
            "STRATO_EMBEDDED_RABBITMQ": "true",
            # The ACL service on: the admin key still works as the cloud's root admin,
            # and end users sign their requests (tests/sdk/acl_suite.py).
            "STRATO_SERVICES": "acl,usage",
            "STRATO_DIRECTORY_TTL_S": "2",
            "STRATO_DIRECTORY_DEREGISTER_AFTER_S": "3",
        },
    )
    try:
        out = up.wait_for("Try: curl")
        key = re.search(r"Admin API key (strato_\S+)", out)
        assert key, out
        token = key.group(1)
        assert f"{api}" in out and f"127.0.0.1:{ports['STRATO_TEMPORAL_UI_PORT']}" in out
        auth = {"Authorization": f"Bearer {token}"}
        hosts = httpx.get(f"{api}/hosts", headers=auth).json()["items"]
        assert sorted(h["name"] for h in hosts) == ["demo-host1", "demo-host2", "demo-host3"]
        assert all(h["status"] == "Up" for h in hosts)
        ui = httpx.get(f"http://127.0.0.1:{ports['STRATO_TEMPORAL_UI_PORT']}/", timeout=10)
        assert ui.status_code == 200
        assert httpx.get(f"{api}/hosts").status_code == 401
        # the orchestrator set the embedded Temporal's retention (the dev server's is 1 day)
        assert asyncio.run(_retention(ports["STRATO_TEMPORAL_PORT"])) == timedelta(days=3)
        # the relay publishes to the RabbitMQ `strato up` runs (STRATO_EMBEDDED_RABBITMQ)
        amqp = re.search(r"RabbitMQ \.\.\. ready \S+ \(amqp://127\.0\.0\.1:(\d+)", out)
        assert amqp, out
        password = (data / "rabbitmq" / "password").read_text().strip()
        url = f"amqp://strato:{password}@127.0.0.1:{amqp.group(1)}/"
        zone = asyncio.run(_zone_event_over_amqp(url, api, auth))
        assert zone["type"] == "strato.zone.created" and zone["data"]["name"] == "amqp-zone"
        # every process of `strato up` is in the services directory, passing
        listed = httpx.get(f"{api}/services", headers=auth).json()
        kinds = {i["kind"]: i for i in listed}
        assert set(kinds) >= {
            *("api", "orchestrator", "relay", "simulator-agent", "template-service"),
            *("temporal", "temporal-ui", "amqp"),
        }, listed
        assert {i["health"] for i in listed} == {"passing"}, listed
        # the template service (no database access) announced itself through Temporal
        # and the directory checks its health endpoint
        assert kinds["template-service"]["check_kind"] == "http", kinds["template-service"]
        # the relay found the broker by kind: its endpoint holds no password
        assert kinds["amqp"]["endpoints"] == [
            {"url": f"amqp://127.0.0.1:{amqp.group(1)}/", "protocol": "amqp"}
        ]
        found = httpx.get(f"{api}/services/discover", params={"kind": "amqp"}, headers=auth)
        assert found.json() == kinds["amqp"]["endpoints"]
        # kill -9 the simulated agent (TTL heartbeats) and the template service (checked):
        # each turns critical, then is removed (their restarts by `strato up` register anew)
        killed = [kinds["simulator-agent"], kinds["template-service"]]
        for instance in killed:
            os.kill(int(instance["name"].rsplit("/", 1)[1]), signal.SIGKILL)
        seen: dict[str, set[str]] = {i["id"]: set() for i in killed}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any("removed" not in v for v in seen.values()):
            for id, states in seen.items():
                r = httpx.get(f"{api}/services/{id}", headers=auth)
                states.add(r.json()["health"] if r.status_code == 200 else "removed")
            time.sleep(0.2)
        assert all({"critical", "removed"} <= v for v in seen.values()), seen
        _check_sdk_alone(tmp_path / "sdk-venv", installing, data)
        _bluegreen_on_up(tmp_path, data, api, auth, ports["STRATO_TEMPORAL_PORT"], up.proc.pid)
        children = descendants(up.proc.pid)
        assert len(children) >= 5  # postgres (+its workers), temporal, worker, agent, api
    finally:
        code = up.stop(signal.SIGINT)
    assert code == 0, "".join(up.output)
    time.sleep(0.5)
    assert not [p for p in children if alive(p)], "orphans survived Ctrl-C"
    assert (data / "client.json").stat().st_mode & 0o777 == 0o600

    again = Up(data, ports)
    try:
        out = again.wait_for("Try: curl")
        assert "issued before" in out and "Admin API key" not in out
        assert "exists: 3/3 hosts Up" in out
        hosts2 = httpx.get(f"{api}/hosts", headers=auth).json()["items"]
        assert sorted(h["id"] for h in hosts2) == sorted(h["id"] for h in hosts)
        # the broker of the first run left the directory when that run stopped
        kinds2 = {i["kind"] for i in httpx.get(f"{api}/services", headers=auth).json()}
        assert "amqp" not in kinds2 and "temporal" in kinds2, kinds2
        # the CLI reads the config `strato up` wrote
        cli = subprocess.run(
            [sys.executable, "-m", "strato.cli", "hosts", "list", "--json"],
            env={**os.environ, "STRATO_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert "demo-host2" in cli.stdout
        # a VM through the CLI, by names, with its live progress
        env = {**os.environ, "STRATO_DATA_DIR": str(data)}
        # the directory through the CLI: Temporal's endpoint found by kind
        temporal_at = _cli(env, "services", "discover", "temporal", "--json")
        assert temporal_at.returncode == 0, temporal_at.stderr
        assert json.loads(temporal_at.stdout) == [
            {"url": f"127.0.0.1:{ports['STRATO_TEMPORAL_PORT']}", "protocol": "grpc"}
        ]
        nothing = _cli(env, "services", "discover", "no-such-kind")
        assert nothing.returncode != 0 and "no healthy instance" in nothing.stderr
        # a managed service from its YAML (names resolved), until it serves; then removed
        echo = str(ROOT / "examples" / "services" / "echo.yaml")
        deployed = _cli(env, "services", "deploy", "-f", echo, "--wait", "--json")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert json.loads(deployed.stdout)["healthy"] == 2
        echo_at = _cli(env, "services", "discover", "echo", "--json")
        assert len(json.loads(echo_at.stdout)) == 2, echo_at.stdout + echo_at.stderr
        assert all(e["url"].startswith("tcp://10.1.") for e in json.loads(echo_at.stdout))
        removed = _cli(env, "services", "remove", "echo", "--wait")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        # ... its events POSTed, signed, to a webhook by the relay `strato up` runs
        hook_port = free_port()
        hooked = _cli(
            env,
            "webhooks",
            "create",
            "name=up",
            f"url=http://127.0.0.1:{hook_port}/hook",
            "secret=up-test-secret-0123",
            'types=["strato.vm.*"]',
            "allow_internal=true",
        )
        assert hooked.returncode == 0, hooked.stdout + hooked.stderr
        received = _receiver(hook_port, "up-test-secret-0123")
        deploy = subprocess.run(
            [
                sys.executable,
                "-m",
                "strato.cli",
                "vm",
                "deploy",
                "name=web1",
                "zone=demo",
                "offering=small",
                "template=tiny-linux",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        assert "(vm.deploy)" in deploy.stdout and "succeeded: done" in deploy.stdout
        shown = subprocess.run(
            [sys.executable, "-m", "strato.cli", "vm", "show", "web1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert '"state": "Running"' in shown.stdout, shown.stdout
        assert '"ip_address": "10.1.0.10"' in shown.stdout
        web1 = json.loads(shown.stdout)["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            e["subject"] == f"vm/{web1}" and e["data"].get("new_state") == "Running"
            for e in received
        ):
            time.sleep(0.2)
        assert any(e["subject"] == f"vm/{web1}" for e in received), received
        assert {e["type"].split(".")[1] for e in received} == {"vm"}
        # a data volume through the CLI, hot-plugged into it by names
        made = _cli(env, "volume", "create", "name=data1", "zone=demo", "size_gb=1", "--json")
        assert made.returncode == 0 and '"Allocated"' in made.stdout, made.stderr
        attached = _cli(env, "volume", "attach", "data1", "vm=web1")
        assert attached.returncode == 0, attached.stdout + attached.stderr
        assert "(volume.attach)" in attached.stdout and "succeeded" in attached.stdout
        # capacity with bars: web1 holds CPU and memory on one of the demo hosts
        cap = _cli(env, "capacity", "--zone", "demo", "--scope", "host", "--kind", "memory")
        assert cap.returncode == 0, cap.stderr
        rows = [line for line in cap.stdout.splitlines() if line.startswith("host ")]
        assert len(rows) == 3 and all("[" in r and "%" in r for r in rows), cap.stdout
        busy = [r for r in rows if not r.split("]")[1].strip().startswith("0.0%")]
        assert len(busy) == 1, cap.stdout  # web1's host (a sliver of 128 GiB: no # yet)
        # maintenance through the CLI: web1 moves off its host, live progress shown
        web_host = json.loads(_cli(env, "vm", "show", "web1", "--json").stdout)["host_id"]
        held = _cli(env, "hosts", "maintenance", web_host)
        assert held.returncode == 0, held.stdout + held.stderr
        assert "(host.maintenance)" in held.stdout and "succeeded" in held.stdout
        moved = json.loads(_cli(env, "vm", "show", "web1", "--json").stdout)
        assert moved["state"] == "Running" and moved["host_id"] != web_host
        back = _cli(env, "hosts", "cancel-maintenance", web_host)
        assert back.returncode == 0 and "Enabled" in back.stdout, back.stdout + back.stderr
        vol = _cli(env, "volume", "show", "data1", "--json")
        assert '"device_id": 1' in vol.stdout and '"state": "Ready"' in vol.stdout, vol.stdout
        taken = _cli(env, "snapshot", "take", "data1", "name=s1")  # refused: web1 runs
        assert taken.returncode != 0 and "running VM web1" in taken.stderr, taken.stderr
        assert _cli(env, "volume", "detach", "data1").returncode == 0
        taken = _cli(env, "snapshot", "take", "data1", "name=s1")
        assert taken.returncode == 0 and "(snapshot.create)" in taken.stdout, taken.stdout
        shown = _cli(env, "snapshot", "show", "s1", "--json")
        assert '"state": "CreatedOnPrimary"' in shown.stdout, shown.stdout
        pol = _cli(
            env,
            "snapshot-policy",
            "create",
            "data1",
            "interval_type=DAILY",
            "schedule=30:02",
            "max_snaps=7",
            "--json",
        )
        assert pol.returncode == 0 and '"schedule_id": "snapshot-policy:' in pol.stdout, (
            pol.stdout + pol.stderr
        )
        # a security group and a rule through the CLI; the demo zone's network listed
        assert _cli(env, "security-groups", "create", "name=web").returncode == 0
        allowed = _cli(
            env,
            "security-groups",
            "allow",
            "web",
            "protocol=tcp",
            "start_port=22",
            "cidr=0.0.0.0/0",
        )
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr
        rules = _cli(env, "security-groups", "rules", "web", "--json")
        assert '"start_port": 22' in rules.stdout, rules.stdout + rules.stderr
        nets = _cli(env, "networks", "list", "--json")
        assert nets.returncode == 0 and '"state": "Implemented"' in nets.stdout, nets.stdout
        # a template from a URL, fetched by the template service `strato up` runs (into the
        # demo zone's simulated image store), its download shown as it goes; a VM from it
        with serving(tmp_path / "www", rate=1 << 20) as images:
            (images.root / "t.raw").write_bytes(b"\1" * (8 << 20))  # 8 s at 1 MiB/s
            url = images.url("t.raw")
            reg = _cli(
                env, "templates", "create", "name=img1", "zone=demo", f"url={url}", "format=raw"
            )
        assert reg.returncode == 0, reg.stdout + reg.stderr
        assert "(template.register)" in reg.stdout and "MiB of 8.0 MiB" in reg.stdout, reg.stdout
        web2 = _cli(
            env, "vm", "deploy", "name=web2", "zone=demo", "offering=small", "template=img1"
        )
        assert web2.returncode == 0 and "succeeded: done" in web2.stdout, web2.stdout + web2.stderr
        # web2 backed up (into the image store), on a schedule too, and restored as web3
        assert _cli(env, "backup-offerings", "create", "name=nightly").returncode == 0
        assert _cli(env, "vm", "stop", "web2").returncode == 0
        bk = _cli(env, "backup", "create", "web2", "offering=nightly", "--json")
        assert bk.returncode == 0 and '"succeeded"' in bk.stdout, bk.stdout + bk.stderr
        sched = _cli(
            env, "backup-schedule", "create", "web2", "interval_type=DAILY", "schedule=30:02"
        )
        assert sched.returncode == 0 and "backup-schedule:" in sched.stdout, sched.stderr
        backup_id = json.loads(bk.stdout)["resource"]["id"]
        web3 = _cli(env, "backup", "restore-vm", backup_id, "name=web3")
        assert web3.returncode == 0 and "(vm.restore)" in web3.stdout, web3.stdout + web3.stderr
        assert '"state": "Running"' in _cli(env, "vm", "show", "web3", "--json").stdout
        # a disk image uploaded from a file by the CLI (streamed, then checked like a download)
        disk = tmp_path / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "32M"], check=True)
        sent = _cli(env, "templates", "upload", str(disk), "name=img2", "zone=demo")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "MiB sent" in sent.stdout and "(template.register)" in sent.stdout, sent.stdout
        shown = _cli(env, "templates", "show", "img2", "--json")
        assert '"state": "Ready"' in shown.stdout, shown.stdout
        children = descendants(again.proc.pid)
    finally:
        assert again.stop(signal.SIGTERM) == 0
    time.sleep(0.5)
    assert not [p for p in children if alive(p)]


def _receiver(port: int, secret: str) -> list[dict[str, Any]]:
    """A webhook receiver on a thread: the list fills with each delivery whose
    signature verifies."""
    from strato.events import signing

    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            header = self.headers.get(signing.SIGNATURE_HEADER, "")
            if signing.verify(secret, body, header, now=time.time()):
                got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return got


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strato.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_taken_port_is_reported_by_name(tmp_path: Path, ports: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(ports["STRATO_API_PORT"])))
        s.listen()
        up = Up(tmp_path / "strato", ports)
        code = up.proc.wait(60)
        assert up.proc.stdout is not None
        out = up.proc.stdout.read()
    assert code == 1
    assert f"port {ports['STRATO_API_PORT']}" in out and "STRATO_API_PORT" in out
