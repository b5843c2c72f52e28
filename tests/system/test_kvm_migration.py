"""A volume moved between two qcow2 pools of a real host (the second added while the
agent runs: it serves it without a restart): its bytes and its internal snapshots travel
with it, a revert on the new pool brings the snapshot's bytes back, and the VM boots with
it from there.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ChildProcess, ok, pool_body, wait_operation
from tests.lab import GUEST_CMDLINE, Lab, holds_pattern, wait_console, write_pattern
from tests.system.conftest import agent_process
from tests.workers.agent_helpers import eventually, kvm_zone
from tests.workflows.vm_helpers import deploy

pytestmark = pytest.mark.system


def _exists(path: str) -> bool:
    return Path(path).exists()


async def _op(api: httpx.AsyncClient, r: httpx.Response) -> None:
    op = await wait_operation(api, (await ok(r, 202))["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op


async def test_a_volume_moves_between_real_pools_with_its_snapshots(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    lab: Lab,
    agents: list[ChildProcess],
) -> None:
    boot = {"kernel": lab.kernel, "initrd": lab.initrd, "cmdline": GUEST_CMDLINE}
    fab = await kvm_zone(api, lab.dir / "pool", boot=boot)
    host = lab.host()
    agents.append(agent_process(settings, lab, fab, host).start())

    async def up() -> Any:
        page = await ok(await api.get("/hosts", params={"name": host}))
        return page["items"] and page["items"][0]["status"] == "Up"

    await eventually(up, timeout=60, what=f"real host {host} Up")
    # A second pool, added while the agent runs: it serves it from its next heartbeat.
    body = pool_body(fab["cluster"]["id"], "qcow2", f"file://{lab.dir / 'pool2'}")
    p2 = await ok(await api.post("/storage-pools", json=body), 201)
    accepted = await deploy(api, fab)
    await _op(api, httpx.Response(202, json=accepted))
    vm_id = accepted["resource"]["id"]
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    await wait_console(vm["console"]["serial_log"], "STRATO-DISKS", timeout=120)

    vol = await ok(
        await api.post("/volumes", json={"name": "d", "zone_id": fab["zone"]["id"], "size_gb": 1}),
        201,
    )
    await _op(api, await api.post(f"/volumes/{vol['id']}/attach", json={"vm_id": vm_id}))
    await _op(api, await api.post(f"/vms/{vm_id}/stop", json={"force": True}))
    path = (await ok(await api.get(f"/volumes/{vol['id']}")))["path"]
    write_pattern(path, 0x3C)
    r = await ok(await api.post(f"/volumes/{vol['id']}/snapshots", json={"name": "s"}), 202)
    await _op(api, httpx.Response(202, json=r))
    snap = r["resource"]
    write_pattern(path, 0x11)

    await _op(api, await api.post(f"/volumes/{vol['id']}/migrate", json={"pool_id": p2["id"]}))
    moved = await ok(await api.get(f"/volumes/{vol['id']}"))
    assert moved["pool_id"] == p2["id"] and moved["path"].startswith(str(lab.dir / "pool2"))
    assert not _exists(path)
    assert holds_pattern(moved["path"], 0x11)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", moved["path"]], capture_output=True, text=True
        ).stdout
    )
    assert [s["name"] for s in info.get("snapshots", [])] == [snap["storage_name"]]
    await _op(api, await api.post(f"/snapshots/{snap['id']}/revert"))
    assert holds_pattern(moved["path"], 0x3C)

    # The VM starts with its data disk on the other pool (both pools are the host's).
    await _op(api, await api.post(f"/vms/{vm_id}/start"))
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    await wait_console(vm["console"]["serial_log"], "STRATO-DISKS vda vdb", timeout=120)
    assert {v["pool_id"] for v in vm["volumes"]} == {fab["pool"]["id"], p2["id"]}
