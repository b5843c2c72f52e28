"""ISOs in VMs' CD-ROM drives with real Temporal + PG, the template service's real download
into a directory image store, simulated hosts and pools: an ISO registered, attached to
a running VM (copied to its root's pool, inserted on its host), kept across a stop and a
start, refused where it must be, detached; its pool copy is kept while in use."""

from __future__ import annotations

from typing import Any

import httpx

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.images_http import ImageServer
from tests.workflows.test_templates import doctor_clean, evict, images, register, store
from tests.workflows.test_volumes import running_vm
from tests.workflows.vm_helpers import act, vm_zone

MiB = 1 << 20
__all__ = ["images"]  # the fixture: an HTTP server of test images


async def iso_op(api: httpx.AsyncClient, vm_id: str, verb: str, body: Any = None) -> Any:
    r = await ok(await api.post(f"/vms/{vm_id}/{verb}", json=body), 202)
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == "succeeded", op
    return await ok(await api.get(f"/vms/{vm_id}"))


async def test_an_iso_attached_kept_and_detached(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    fab = await vm_zone(api, hosts=1)
    await store(api, settings, fab["zone"]["id"])
    (images.root / "tools.iso").write_bytes(b"\0" * 32768 + b"\1CD001" + b"\0" * MiB)
    iso, _ = await register(api, fab["zone"]["id"], images.url("tools.iso"), format="iso")
    assert iso["state"] == "Ready" and iso["format"] == "iso"
    vm = await running_vm(api, fab)
    sim = platform.fleet.drivers[vm["host_name"]]
    domain = f"strato-{vm['id']}"
    assert (await sim.vm_spec(domain)).cdrom is None  # an empty drive

    # Refused, nothing changed: a disk image, an unknown ISO, nothing to detach.
    counts = await table_counts(db)
    bad = await api.post(f"/vms/{vm['id']}/attach-iso", json={"iso_id": fab["template"]["id"]})
    assert bad.status_code == 422 and "not an ISO" in bad.text, bad.text
    bad = await api.post(f"/vms/{vm['id']}/attach-iso", json={"iso_id": vm["id"]})
    assert bad.status_code == 422 and "iso_id" in bad.text, bad.text
    bad = await api.post(f"/vms/{vm['id']}/detach-iso")
    assert bad.status_code == 409 and "no ISO" in bad.text, bad.text
    assert await table_counts(db) == counts

    # Attached to the running VM: copied to its root's pool, in its drive on the host.
    got = await iso_op(api, vm["id"], "attach-iso", {"iso_id": iso["id"]})
    assert got["iso_id"] == iso["id"] and got["iso_path"]
    assert (await sim.vm_spec(domain)).cdrom == got["iso_path"]
    (pool,) = platform.fleet.pools.values()
    assert got["iso_path"] in {v.path for v in await pool.list_volumes()}
    again = await api.post(f"/vms/{vm['id']}/attach-iso", json={"iso_id": iso["id"]})
    assert again.status_code == 409 and "detach it first" in again.text, again.text
    in_use = await api.delete(f"/templates/{iso['id']}")
    assert in_use.status_code == 409, in_use.text
    assert await evict(db, platform, settings) == 0  # its pool copy is in use

    # Every boot inserts it: stopped (no domain), started again with it in the drive.
    await act(api, vm["id"], "stop")
    await act(api, vm["id"], "start")
    assert (await sim.vm_spec(domain)).cdrom == got["iso_path"]

    gone = await iso_op(api, vm["id"], "detach-iso")
    assert gone["iso_id"] is None and gone["iso_path"] is None
    assert (await sim.vm_spec(domain)).cdrom is None
    params = {"type": "strato.vm.iso", "resource_id": vm["id"]}
    events = await ok(await api.get("/events", params=params))
    kinds = [e["type"] for e in events["items"]]
    assert kinds == ["strato.vm.iso_attached", "strato.vm.iso_detached"], events
    assert await evict(db, platform, settings) == 1  # unused now: collected
    await doctor_clean(db, platform, settings)


async def test_an_iso_being_attached_is_in_use_and_a_failed_attach_leaves_no_iso(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    images: ImageServer,
) -> None:
    fab = await vm_zone(api, hosts=1)
    await store(api, settings, fab["zone"]["id"])
    (images.root / "race.iso").write_bytes(b"\0" * 32768 + b"\1CD001" + b"\0" * MiB)
    iso, _ = await register(api, fab["zone"]["id"], images.url("race.iso"), format="iso")
    vm = await running_vm(api, fab)
    faults = platform.fleet.faults
    # Every simulated call slowed: the delete comes while the attach copies to the pool.
    faults.latency_ms = 400
    try:
        r = await ok(await api.post(f"/vms/{vm['id']}/attach-iso", json={"iso_id": iso["id"]}), 202)
        held = await ok(await api.get(f"/vms/{vm['id']}"))
        assert held["iso_id"] == iso["id"] and held["iso_path"] is None  # reserved
        busy = await api.delete(f"/templates/{iso['id']}")
        assert busy.status_code == 409 and "used by 1 VM" in busy.text, busy.text
    finally:
        faults.latency_ms = 0
    op = await wait_operation(api, r["operation"]["id"])
    assert op["state"] == "succeeded", op
    await iso_op(api, vm["id"], "detach-iso")

    # An attach that fails on the host leaves the drive empty and the ISO free.
    faults.fail_ops, faults.fail_rate = frozenset({"change_media"}), 1.0
    try:
        r = await ok(await api.post(f"/vms/{vm['id']}/attach-iso", json={"iso_id": iso["id"]}), 202)
        op = await wait_operation(api, r["operation"]["id"])
    finally:
        faults.fail_ops, faults.fail_rate = frozenset(), 0.0
    assert op["state"] == "failed", op
    got = await ok(await api.get(f"/vms/{vm['id']}"))
    assert got["state"] == "Running" and got["iso_id"] is None and got["iso_path"] is None
    params = {"type": "strato.vm.iso", "resource_id": vm["id"]}
    kinds = [e["type"] for e in (await ok(await api.get("/events", params=params)))["items"]]
    assert kinds == ["strato.vm.iso_attached", "strato.vm.iso_detached"], kinds
    gone = await api.delete(f"/templates/{iso['id']}")
    assert gone.status_code in (200, 202, 204), gone.text
    await doctor_clean(db, platform, settings)
