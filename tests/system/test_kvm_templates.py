"""A template fetched over HTTP by the template service into a directory image store, then
deployed on a real host: the pool gets one copy of it, the real guest boots from a thin
qcow2 clone of that copy, and the template's bytes read through the clone.

Needs ``scripts/libvirt-host start`` and ``scripts/tiny-guest`` (CI runs both).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from strato.schema.db import Database
from strato.settings import Settings
from tests.helpers import ChildProcess, ok, wait_operation
from tests.images_http import serving
from tests.lab import Lab, wait_console, write_pattern
from tests.system.conftest import agent_process, booted_vm
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
        assert _reads(root, 0x5A, 0)  # the template's bytes, read through the clone
    async with db.conn() as conn:
        row = await conn.fetchrow("SELECT state, copies FROM template_pool_cache")
    assert (row["state"], row["copies"]) == ("Ready", 1)


async def test_a_snapshot_backup_survives_a_killed_agent_and_makes_a_template(
    api: httpx.AsyncClient,
    kvm: dict[str, Any],
    lab: Lab,
    agents: list[ChildProcess],
    settings: Settings,
) -> None:
    """A 1 GiB data volume full of a pattern, snapshotted, then overwritten. Its backup is
    exported by the pool's agent, which is killed (-9) mid-copy: the restarted agent makes
    it again, the snapshot ends BackedUp, and the backup holds the snapshot's bytes, not
    the overwrite's; no half-made copy is left. A template from the snapshot boots a real
    guest whose root disk holds them too, and so does a volume made from the snapshot's
    backup once its own volume is expunged."""
    sec = await store(api, settings, kvm["zone"]["id"])
    shown = await booted_vm(api, kvm)
    body = {"name": "big", "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)
    for verb, arg in (("attach", {"vm_id": shown["id"]}), ("detach", None)):
        r = await ok(await api.post(f"/volumes/{vol['id']}/{verb}", json=arg), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=120)
        assert op["state"] == "succeeded", op
    path = (await ok(await api.get(f"/volumes/{vol['id']}")))["path"]
    write_pattern(path, 0x3C, length=1 << 30)
    r = await ok(await api.post(f"/volumes/{vol['id']}/snapshots", json={"name": "s"}), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    snap_id = r["resource"]["id"]
    write_pattern(path, 0x11, length=1 << 20)

    backups = Path(sec["url"].removeprefix("file://")) / "snapshot"
    r = await ok(await api.post(f"/snapshots/{snap_id}/backup"), 202)
    async with asyncio.timeout(60):  # the copy under its hidden name: kill the agent now
        while not (backups.exists() and any(p.name.endswith(".part") for p in backups.iterdir())):
            await asyncio.sleep(0.05)
    kvm["agent"].kill9()
    agents.append(agent_process(settings, lab, kvm, kvm["host"]).start())
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    snap = await ok(await api.get(f"/snapshots/{snap_id}"))
    assert snap["state"] == "BackedUp" and snap["backup_path"] == str(backups / snap_id)
    assert [p.name for p in backups.iterdir()] == [snap_id]  # nothing half-made
    assert "backing-filename" not in _info(snap["backup_path"])  # standalone
    assert _reads(snap["backup_path"], 0x3C, 0) and _reads(snap["backup_path"], 0x3C, 1 << 29)

    r = await ok(
        await api.post(
            f"/snapshots/{snap_id}/templates",
            json={"name": "from-s", "boot": kvm["template"]["boot"]},
        ),
        202,
    )
    assert (await wait_operation(api, r["operation"]["id"], timeout=180))["state"] == "succeeded"
    tpl = await ok(await api.get(f"/templates/{r['resource']['id']}"))
    assert (tpl["state"], tpl["size_bytes"]) == ("Ready", 1 << 30)
    vm = await deploy(api, {**kvm, "template": tpl})
    assert (await wait_operation(api, vm["operation"]["id"], timeout=180))["state"] == "succeeded"
    got = await ok(await api.get(f"/vms/{vm['resource']['id']}"))
    await wait_console(got["console"]["serial_log"], "STRATO-DISKS vda", timeout=120)
    assert _reads(got["volumes"][0]["path"], 0x3C, 0)

    # The volume expunged (its file, and the snapshot in it, gone): a new volume from
    # the snapshot is copied from its backup and holds the snapshot's bytes.
    r = await ok(await api.post(f"/volumes/{vol['id']}/destroy", json={"expunge": True}), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert (await ok(await api.get(f"/snapshots/{snap_id}")))["state"] == "BackedUp"
    r = await ok(await api.post(f"/snapshots/{snap_id}/volumes", json={"name": "again"}), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=180))["state"] == "succeeded"
    again = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert (again["state"], again["size_bytes"]) == ("Ready", 1 << 30)
    assert _reads(again["path"], 0x3C, 0) and _reads(again["path"], 0x3C, 1 << 29)

    # Deleting the snapshot deletes its backup in the image store too.
    r = await ok(await api.delete(f"/snapshots/{snap_id}"), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"
    assert list(backups.iterdir()) == []


def _reads(path: str, pattern: int, offset: int) -> bool:
    """The pattern at ``offset``, read shared (a guest may hold the image)."""
    read = subprocess.run(
        ["qemu-io", "-r", "-U", "-f", "qcow2", "-c", f"read -P {pattern:#x} {offset} 64k", path],
        capture_output=True,
        text=True,
    )
    return read.returncode == 0 and "verification failed" not in read.stdout


async def test_a_vm_backup_restores_a_volumes_bytes(
    api: httpx.AsyncClient, kvm: dict[str, Any], settings: Settings
) -> None:
    """A stopped real VM backed up (each disk from a snapshot its pool takes, exported to
    the image store); its data disk overwritten; a volume restored from the backup holds
    the bytes the disk had at the backup."""
    await store(api, settings, kvm["zone"]["id"])
    shown = await booted_vm(api, kvm)
    vm_id = shown["id"]
    body = {"name": "data", "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)
    for path, arg in (
        (f"/volumes/{vol['id']}/attach", {"vm_id": vm_id}),
        (f"/vms/{vm_id}/stop", {"force": True}),
    ):
        r = await ok(await api.post(path, json=arg), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=120)
        assert op["state"] == "succeeded", op
    disk = (await ok(await api.get(f"/volumes/{vol['id']}")))["path"]
    write_pattern(disk, 0x5C)
    offering = await ok(await api.post("/backup-offerings", json={"name": "nightly"}), 201)
    r = await ok(await api.post(f"/vms/{vm_id}/backups", json={"offering_id": offering["id"]}), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    backup = await ok(await api.get(f"/backups/{r['resource']['id']}"))
    assert backup["state"] == "BackedUp" and len(backup["volumes"]) == 2
    write_pattern(disk, 0x11)  # after the backup

    body = {"volume_id": vol["id"], "name": "restored"}
    r = await ok(await api.post(f"/backups/{backup['id']}/volumes", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    restored = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert restored["state"] == "Ready" and restored["size_bytes"] == 1 << 30
    assert _reads(restored["path"], 0x5C, 0) and _reads(disk, 0x11, 0)
    assert "backing-filename" not in _info(restored["path"])

    # The whole VM restored as a new one: the real guest boots from the restored root
    # (standalone, the same bytes as the source's) and sees the restored data disk.
    r = await ok(await api.post(f"/backups/{backup['id']}/vms", json={"name": "phoenix"}), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    new = await ok(await api.get(f"/vms/{r['resource']['id']}"))
    assert new["state"] == "Running"
    await wait_console(new["console"]["serial_log"], "STRATO-DISKS vda vdb", timeout=120)
    root, data = sorted(new["volumes"], key=lambda v: v["device_id"] or 0)
    assert "backing-filename" not in _info(root["path"])
    compare = subprocess.run(
        ["qemu-img", "compare", "-U", shown["volumes"][0]["path"], root["path"]],
        capture_output=True,
        text=True,
    )
    assert compare.returncode == 0, compare.stdout + compare.stderr
    assert _reads(data["path"], 0x5C, 0)
    r = await ok(await api.post(f"/vms/{new['id']}/stop", json={"force": True}), 202)
    assert (await wait_operation(api, r["operation"]["id"], timeout=120))["state"] == "succeeded"


async def test_a_running_vm_is_backed_up_live(
    api: httpx.AsyncClient, kvm: dict[str, Any], settings: Settings
) -> None:
    """A running real VM backed up: its QEMU snapshots each disk it holds, the pool
    exports the snapshot (shared with the guest), QEMU deletes it; the VM keeps running
    and a volume restored from the backup holds the data disk's bytes."""
    await store(api, settings, kvm["zone"]["id"])
    shown = await booted_vm(api, kvm)
    vm_id = shown["id"]
    body = {"name": "data", "zone_id": kvm["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)

    async def volume_op(verb: str, arg: Any = None) -> None:
        r = await ok(await api.post(f"/volumes/{vol['id']}/{verb}", json=arg), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=120)
        assert op["state"] == "succeeded", op

    await volume_op("attach", {"vm_id": vm_id})  # made on the pool, hot-plugged
    await volume_op("detach")
    disk = (await ok(await api.get(f"/volumes/{vol['id']}")))["path"]
    write_pattern(disk, 0x6E)
    await volume_op("attach", {"vm_id": vm_id})  # the running guest holds it again
    offering = await ok(await api.post("/backup-offerings", json={"name": "live"}), 201)
    r = await ok(await api.post(f"/vms/{vm_id}/backups", json={"offering_id": offering["id"]}), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    backup = await ok(await api.get(f"/backups/{r['resource']['id']}"))
    assert backup["state"] == "BackedUp" and len(backup["volumes"]) == 2
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Running"
    assert "snapshots" not in _info(disk)  # QEMU deleted the snapshot it took

    body = {"volume_id": vol["id"], "name": "restored"}
    r = await ok(await api.post(f"/backups/{backup['id']}/volumes", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    restored = await ok(await api.get(f"/volumes/{r['resource']['id']}"))
    assert _reads(restored["path"], 0x6E, 0)


async def test_an_iso_in_a_real_guests_cdrom_drive(
    api: httpx.AsyncClient, kvm: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    """An ISO registered over HTTP, attached to a running real VM: QEMU holds the pool's
    copy of it in the VM's CD-ROM drive; a stop and a start keep it; detach ejects it."""
    zone = kvm["zone"]["id"]
    await store(api, settings, zone)
    with serving(tmp_path / "www") as images:
        (images.root / "tools.iso").write_bytes(b"\0" * 32768 + b"\1CD001" + b"\0" * (1 << 20))
        iso, _ = await register(api, zone, images.url("tools.iso"), format="iso")
    first = await deploy(api, kvm)
    op = await wait_operation(api, first["operation"]["id"], timeout=180)
    assert op["state"] == "succeeded", op
    vm_id = first["resource"]["id"]
    domain = f"strato-{vm_id}"

    async def verb(name: str, body: Any = None) -> dict[str, Any]:
        r = await ok(await api.post(f"/vms/{vm_id}/{name}", json=body), 202)
        op = await wait_operation(api, r["operation"]["id"], timeout=120)
        assert op["state"] == "succeeded", op
        got: dict[str, Any] = await ok(await api.get(f"/vms/{vm_id}"))
        return got

    def cdrom() -> str:
        out = subprocess.run(
            ["virsh", "-c", "qemu:///system", "domblklist", domain],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        line = next(x for x in out.stdout.splitlines() if x.split()[:1] == ["hdc"])
        return line.split()[1]

    assert cdrom() == "-"  # an empty drive
    got = await verb("attach-iso", {"iso_id": iso["id"]})
    pool_dir = kvm["pool"]["url"].removeprefix("file://")
    assert cdrom() == got["iso_path"] and got["iso_path"].startswith(pool_dir)
    await verb("stop", {"force": True})
    await verb("start")
    assert cdrom() == got["iso_path"]
    await verb("detach-iso")
    assert cdrom() == "-"
    await verb("stop", {"force": True})
