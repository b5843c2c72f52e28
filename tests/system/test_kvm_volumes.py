"""Data volumes on a real host: a qcow2 file on the pool, hot-plugged into real QEMU
guests (the tiny guest reports each new disk and its first bytes on its console), grown
online by QEMU, snapshotted live by QEMU, unplugged, moved to another guest with its data,
snapshotted, overwritten and reverted to the snapshot's data.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from tests.helpers import ok, pool_body, unique, wait_operation
from tests.lab import Lab, holds_pattern, wait_console, write_pattern
from tests.workflows.vm_helpers import deploy

pytestmark = pytest.mark.system

GiB = 1 << 30


async def _running(api: httpx.AsyncClient, fab: dict[str, Any]) -> dict[str, Any]:
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op
    vm: dict[str, Any] = await ok(await api.get(f"/vms/{accepted['resource']['id']}"))
    await wait_console(vm["console"]["serial_log"], "STRATO-DISKS", timeout=90)
    return vm


async def _vol_op(api: httpx.AsyncClient, vol_id: str, verb: str, body: Any = None) -> None:
    r = await ok(await api.post(f"/volumes/{vol_id}/{verb}", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op


def _disks(lab: Lab, vm_id: str) -> list[str]:
    """The disk targets of the VM's running domain, as libvirt has them (its CD-ROM drive
    aside)."""
    dom = next(d for d in lab.domains() if d.UUIDString() == vm_id)
    root = ET.fromstring(dom.XMLDesc(0))
    return [t.get("dev", "") for t in root.findall("devices/disk[@device='disk']/target")]


async def _snapshot(api: httpx.AsyncClient, vol_id: str, name: str) -> dict[str, Any]:
    r = await ok(await api.post(f"/volumes/{vol_id}/snapshots", json={"name": name}), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=120)
    assert op["state"] == "succeeded", op
    snap: dict[str, Any] = await ok(await api.get(f"/snapshots/{r['resource']['id']}"))
    return snap


def _snapshots_in(path: str) -> list[str]:
    """The internal snapshots of a qcow2 file, by name, as qemu-img lists them."""
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [s["name"] for s in json.loads(out.stdout).get("snapshots", [])]


def _virtual_size(path: str) -> int:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    size: int = json.loads(out.stdout)["virtual-size"]
    return size


async def test_a_data_volume_moves_between_real_guests_with_its_data(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab, db: Database
) -> None:
    a, b = await _running(api, kvm), await _running(api, kvm)
    body = {"name": unique("data"), "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)

    # First attach: the file is made on the pool, then hot-plugged; the guest sees vdb.
    await _vol_op(api, vol["id"], "attach", {"vm_id": a["id"]})
    vol = await ok(await api.get(f"/volumes/{vol['id']}"))
    path = vol["path"]
    assert path.startswith(str(lab.dir / "pool")) and await asyncio.to_thread(os.path.exists, path)
    assert _disks(lab, a["id"]) == ["vda", "vdb"]
    await wait_console(a["console"]["serial_log"], "STRATO-HOTPLUG disk vdb", timeout=60)

    # Grown online: QEMU resizes the image the running guest holds.
    await _vol_op(api, vol["id"], "resize", {"size_gb": 2})
    assert await asyncio.to_thread(_virtual_size, path) == 2 * GiB

    # Unplugged: the guest lets it go, the domain no longer has it.
    await _vol_op(api, vol["id"], "detach")
    assert _disks(lab, a["id"]) == ["vda"]

    # Data written while detached is what the next guest reads, and survives it.
    await asyncio.to_thread(write_pattern, path, 0x5A)
    await _vol_op(api, vol["id"], "attach", {"vm_id": b["id"]})
    log = await wait_console(b["console"]["serial_log"], "STRATO-HOTPLUG disk vdb", timeout=60)
    assert "STRATO-HOTPLUG disk vdb " + "5a" * 16 in log, log

    # Live snapshots, taken and deleted by the running guest's QEMU (it holds the image).
    live = await _snapshot(api, vol["id"], "live1")
    doomed = await _snapshot(api, vol["id"], "live2")
    assert await asyncio.to_thread(_snapshots_in, path) == [
        live["storage_name"],
        doomed["storage_name"],
    ]
    r = await ok(await api.delete(f"/snapshots/{doomed['id']}"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert await asyncio.to_thread(_snapshots_in, path) == [live["storage_name"]]
    await _vol_op(api, vol["id"], "detach")
    assert await asyncio.to_thread(holds_pattern, path, 0x5A)
    await asyncio.to_thread(write_pattern, path, 0xA5)
    r = await ok(await api.post(f"/snapshots/{live['id']}/revert"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert await asyncio.to_thread(holds_pattern, path, 0x5A)  # what the live one caught
    r = await ok(await api.delete(f"/snapshots/{live['id']}"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"

    # Snapshot (a qcow2 internal snapshot in the file), overwrite, revert: the original.
    r = await ok(await api.post(f"/volumes/{vol['id']}/snapshots", json={"name": "s1"}), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    snap = r["resource"]
    await asyncio.to_thread(write_pattern, path, 0xA5)
    assert not await asyncio.to_thread(holds_pattern, path, 0x5A)
    r = await ok(await api.post(f"/snapshots/{snap['id']}/revert"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert await asyncio.to_thread(holds_pattern, path, 0x5A)
    listed = await asyncio.to_thread(_snapshots_in, path)
    assert listed == [snap["storage_name"]]
    # A new volume from the snapshot: a standalone copy with the snapshot's data.
    r = await ok(await api.post(f"/snapshots/{snap['id']}/volumes", json={"name": "c1"}), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    copy = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert copy["path"] != path and await asyncio.to_thread(holds_pattern, copy["path"], 0x5A)
    assert await asyncio.to_thread(_snapshots_in, copy["path"]) == []
    await _vol_op(api, copy["id"], "destroy", {"expunge": True})
    r = await ok(await api.delete(f"/snapshots/{snap['id']}"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert await asyncio.to_thread(_snapshots_in, path) == []
    assert await asyncio.to_thread(holds_pattern, path, 0x5A)  # deleting kept the content

    # Destroyed and expunged at once: the file goes, the pool's claim with it.
    await _vol_op(api, vol["id"], "destroy", {"expunge": True})
    assert not await asyncio.to_thread(os.path.exists, path)
    async with db.conn() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM pool_claims WHERE volume_id = $1", vol["id"])
            == 0
        )


def _vm_state_bytes(path: str, tag: str) -> int:
    """The saved VM state (memory, devices) a qcow2 file holds in its snapshot ``tag``."""
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    (snap,) = [s for s in json.loads(out.stdout).get("snapshots", []) if s["name"] == tag]
    size: int = snap["vm-state-size"]
    return size


async def _vm_snap(api: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    r = await ok(await api.request(method, path, json=body), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    return await ok(await api.get(f"/vm-snapshots/{r['resource']['id']}"))


async def test_vm_snapshots_of_a_real_guest_with_its_memory_and_disks_only(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab
) -> None:
    vm = await _running(api, kvm)
    log = vm["console"]["serial_log"]
    body = {"name": unique("data"), "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)
    await _vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    vol = await ok(await api.get(f"/volumes/{vol['id']}"))
    root = (await ok(await api.get(f"/vms/{vm['id']}")))["volumes"][0]["path"]
    data = vol["path"]
    # A known pattern on the data disk, written while the VM is stopped.
    r = await ok(await api.post(f"/vms/{vm['id']}/stop"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    await asyncio.to_thread(write_pattern, data, 0x5A)
    r = await ok(await api.post(f"/vms/{vm['id']}/start"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    # Each boot's QEMU writes its console log afresh.
    await wait_console(log, "STRATO-DISKS vda vdb", timeout=90)

    # With its memory: QEMU's savevm, on both files, the VM state in the root's.
    mem = await _vm_snap(api, "POST", f"/vms/{vm['id']}/vm-snapshots", {"memory": True})
    assert mem["state"] == "Ready" and mem["memory"]
    for path in (root, data):
        assert mem["tag"] in await asyncio.to_thread(_snapshots_in, path)
    assert await asyncio.to_thread(_vm_state_bytes, root, mem["tag"]) > 1 << 20
    # Disks only, live: the running QEMU snapshots each disk.
    disks = await _vm_snap(api, "POST", f"/vms/{vm['id']}/vm-snapshots", {"name": "d1"})
    assert not disks["memory"]
    for path in (root, data):
        assert disks["tag"] in await asyncio.to_thread(_snapshots_in, path)
    assert await asyncio.to_thread(_vm_state_bytes, root, disks["tag"]) == 0

    # Reverted while running (loadvm): the guest runs on; disks only needs it stopped.
    got = await _vm_snap(api, "POST", f"/vm-snapshots/{mem['id']}/revert")
    assert got["state"] == "Ready" and got["last_error"] is None
    dom = next(d for d in lab.domains() if d.UUIDString() == vm["id"])
    assert dom.isActive() and (await ok(await api.get(f"/vms/{vm['id']}")))["state"] == "Running"
    refused = await api.post(f"/vm-snapshots/{disks['id']}/revert")
    assert refused.status_code == 409 and "stop the VM" in refused.text, refused.text

    # Stopped, the data overwritten, reverted by the pool: the pattern is back, and the
    # guest boots from the reverted disks.
    r = await ok(await api.post(f"/vms/{vm['id']}/stop"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    await asyncio.to_thread(write_pattern, data, 0xA5)
    await _vm_snap(api, "POST", f"/vm-snapshots/{disks['id']}/revert")
    assert await asyncio.to_thread(holds_pattern, data, 0x5A)
    r = await ok(await api.post(f"/vms/{vm['id']}/start"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    await wait_console(log, "STRATO-DISKS vda vdb", timeout=90)

    # Deleted by the running QEMU from every disk; the volume can be detached again.
    for snap in (mem, disks):
        gone = await _vm_snap(api, "DELETE", f"/vm-snapshots/{snap['id']}")
        assert gone["state"] == "Removed"
    for path in (root, data):
        assert await asyncio.to_thread(_snapshots_in, path) == []
    await _vol_op(api, vol["id"], "detach")
    assert await asyncio.to_thread(holds_pattern, data, 0x5A)
    await _vol_op(api, vol["id"], "destroy", {"expunge": True})


async def test_a_running_real_guests_disk_moves_live_to_another_pool(
    api: httpx.AsyncClient, kvm: dict[str, Any], lab: Lab
) -> None:
    vm = await _running(api, kvm)
    body = pool_body(kvm["cluster"]["id"], "qcow2", f"file://{lab.dir / 'pool2'}")
    pool2 = await ok(await api.post("/storage-pools", json=body), 201)
    body = {"name": unique("data"), "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)
    await _vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})  # made on the first pool
    vol = await ok(await api.get(f"/volumes/{vol['id']}"))
    old = vol["path"]
    await _vol_op(api, vol["id"], "detach")
    await asyncio.to_thread(write_pattern, old, 0x5A)
    await _vol_op(api, vol["id"], "attach", {"vm_id": vm["id"]})
    log = await wait_console(vm["console"]["serial_log"], "STRATO-HOTPLUG disk vdb", timeout=60)
    assert "STRATO-HOTPLUG disk vdb " + "5a" * 16 in log, log

    # Moved while the guest runs: QEMU mirrors vdb into the new pool's file and pivots.
    await _vol_op(api, vol["id"], "migrate", {"pool_id": pool2["id"]})
    moved = await ok(await api.get(f"/volumes/{vol['id']}"))
    new = moved["path"]
    assert moved["pool_id"] == pool2["id"] and new.startswith(str(lab.dir / "pool2"))
    dom = next(d for d in lab.domains() if d.UUIDString() == vm["id"])
    assert dom.isActive()
    live = ET.fromstring(dom.XMLDesc(0))
    sources = {
        d.find("target").get("dev"): d.find("source").get("file")  # type: ignore[union-attr]
        for d in live.findall("devices/disk[@device='disk']")
    }
    assert sources["vdb"] == new, sources
    assert not await asyncio.to_thread(os.path.exists, old)

    # Its data came along: read back once the guest lets it go.
    await _vol_op(api, vol["id"], "detach")
    assert await asyncio.to_thread(holds_pattern, new, 0x5A)
    await _vol_op(api, vol["id"], "destroy", {"expunge": True})
