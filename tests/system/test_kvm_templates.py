"""A template fetched over HTTP by the template service into a directory image store, then
deployed on a real host: the pool gets one copy of it, the real guest boots from a thin
qcow2 clone of that copy, and the template's bytes read through the clone.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from strato.settings import Settings
from tests.helpers import ok, wait_operation
from tests.images_http import serving
from tests.lab import wait_console
from tests.workflows.test_templates import qcow2, register, sha256, store
from tests.workflows.vm_helpers import deploy

pytestmark = pytest.mark.system


def _info(path: str) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    info: dict[str, Any] = json.loads(out.stdout)
    return info


async def test_a_real_guest_boots_from_a_clone_of_the_pools_copy(
    api: httpx.AsyncClient, kvm: dict[str, Any], db: Database, settings: Settings, tmp_path: Path
) -> None:
    zone = kvm["zone"]["id"]
    await store(api, settings, zone)
    with serving(tmp_path / "www") as images:
        name = qcow2(images, "root.qcow2", size="64M")
        tpl, _ = await register(
            api,
            zone,
            images.url(name),
            checksum=sha256(images, name),
            boot=kvm["template"]["boot"],  # the tiny guest's kernel, booting with this disk
        )
    assert tpl["state"] == "Ready" and tpl["size_bytes"] == 64 << 20
    fab = {**kvm, "template": tpl}
    vms = []
    for _ in range(2):
        accepted = await deploy(api, fab)
        op = await wait_operation(api, accepted["operation"]["id"], timeout=180)
        assert op["state"] == "succeeded", op
        vms.append(await ok(await api.get(f"/vms/{accepted['resource']['id']}")))
    for vm in vms:
        await wait_console(vm["console"]["serial_log"], "STRATO-DISKS vda", timeout=120)
    cached = Path(kvm["pool"]["url"].removeprefix("file://")) / f"strato-tpl-{tpl['id']}.qcow2"
    assert cached.exists()
    copies = [p for p in cached.parent.iterdir() if p.name.startswith("strato-tpl-")]
    assert copies == [cached]  # one copy for both VMs
    for vm in vms:
        root = vm["volumes"][0]["path"]
        info = _info(root)
        assert info["backing-filename"] == str(cached) and info["virtual-size"] == 64 << 20
        # The template's bytes, read through the clone (shared: the guest has it open).
        read = subprocess.run(
            ["qemu-io", "-r", "-U", "-f", "qcow2", "-c", "read -P 0x5a 0 64k", root],
            capture_output=True,
            text=True,
        )
        assert read.returncode == 0 and "verification failed" not in read.stdout, read
    async with db.conn() as conn:
        row = await conn.fetchrow("SELECT state, copies FROM template_pool_cache")
    assert (row["state"], row["copies"]) == ("Ready", 1)
