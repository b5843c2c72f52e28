"""Record one history of each workflow type (and their failure paths) for the replay
tests. Runs only when asked: ``scripts/refresh-histories`` (STRATO_REFRESH_HISTORIES=1).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.doctor import examine
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, pool_body, unique, wait_operation
from tests.lab import libvirt_module
from tests.workflows.vm_helpers import act, deploy, vm_zone

HISTORIES = Path(__file__).parent / "histories"

pytestmark = pytest.mark.skipif(
    os.environ.get("STRATO_REFRESH_HISTORIES") != "1",
    reason="refreshes the stored histories only when asked (scripts/refresh-histories)",
)


async def _agent_histories(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    host_dir: Path,
) -> None:
    """RegisterHost, HostMonitors and HostHa, from a compute agent on libvirt's test:///
    driver: a few heartbeats, a crash (its host investigated and declared Down), its
    return (Up again)."""
    from tests.workers.agent_helpers import AgentTask, agent_config, eventually, kvm_zone

    async def status(name: str, want: str) -> bool:
        async with db.conn() as conn:
            return bool(
                await conn.fetchval("SELECT status = $2 FROM hosts WHERE name = $1", name, want)
            )

    fab = await kvm_zone(api, host_dir / "pool")
    name = unique("kvm")
    cfg = agent_config(fab, name, tmp_path / "state", libvirt_uri="test:///default")
    # in the directory too: DirectoryAnnounce (entering, and leaving when it stops)
    settings = settings.model_copy(update={"directory_register": True})
    agent = await AgentTask(platform.client, settings, cfg).start()
    await asyncio.sleep(3)  # a few heartbeats
    assert agent.task is not None
    agent.task.cancel()
    await asyncio.gather(agent.task, return_exceptions=True)
    await eventually(lambda: status(name, "Down"), timeout=30, what="Down")
    again = await AgentTask(platform.client, settings, cfg).start()
    await eventually(lambda: status(name, "Up"), timeout=30, what="Up again")
    await again.close()


async def _volume_operations(
    api: httpx.AsyncClient, client: Client, fab: dict[str, Any], vm_id: str
) -> None:
    """Every volume workflow: attach (hot-plug, creating it), resize, detach, a snapshot
    taken, reverted to and deleted, destroy with its delayed expunge, recover (cancelling
    it), destroy and expunge now."""

    async def vol_op(verb: str, body: Any = None) -> None:
        r = await ok(await api.post(f"/volumes/{vol['id']}/{verb}", json=body), 202)
        assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"

    body = {"name": unique("vol"), "zone_id": fab["zone"]["id"], "size_gb": 1}
    vol = await ok(await api.post("/volumes", json=body), 201)
    await vol_op("attach", {"vm_id": vm_id})
    await vol_op("resize", {"size_gb": 2})
    await vol_op("detach")
    other = pool_body(fab["cluster"]["id"], capacity=100 << 30)
    await vol_op(
        "migrate", {"pool_id": (await ok(await api.post("/storage-pools", json=other), 201))["id"]}
    )
    r = await ok(await api.post(f"/volumes/{vol['id']}/snapshots"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    snap_id = r["resource"]["id"]
    r = await ok(await api.post(f"/snapshots/{snap_id}/volumes", json={"name": "copy"}), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    r = await ok(await api.post(f"/snapshots/{snap_id}/revert"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    r = await ok(await api.delete(f"/snapshots/{snap_id}"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    # A recurring policy (paused: the volume is detached), fired once by hand.
    body = {"interval_type": "DAILY", "schedule": "00:03", "max_snaps": 1}
    policy = await ok(await api.post(f"/volumes/{vol['id']}/snapshot-policies", json=body), 201)
    await client.get_schedule_handle(policy["schedule_id"]).trigger()
    for _ in range(100):
        page = await ok(await api.get("/snapshots", params={"volume_id": vol["id"]}))
        if any(s["policy_id"] == policy["id"] for s in page["items"]):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # the run waits for the snapshot, then prunes
    assert (await api.delete(f"/snapshot-policies/{policy['id']}")).status_code == 204
    await vol_op("destroy")
    await vol_op("recover")
    await vol_op("destroy")
    await vol_op("expunge")


async def _template_operations(
    api: httpx.AsyncClient,
    platform: Platform,
    settings: Settings,
    fab: dict[str, Any],
    www: Path,
) -> None:
    """Every template workflow: a register that succeeds and one that fails, a copy to
    another zone, a deploy from it then the cache's eviction, a delete; the snapshot
    exports and VM backups (a volume and a VM restored) that use the image store."""
    from tests.images_http import serving
    from tests.workflows.test_templates import evict, qcow2, register, store

    async def done(r: httpx.Response) -> None:
        op = (await ok(r, 202))["operation"]["id"]
        assert (await wait_operation(api, op, timeout=90))["state"] == "succeeded"

    with serving(www) as images:
        zone = fab["zone"]["id"]
        await store(api, settings, zone)
        tpl, _ = await register(api, zone, images.url(qcow2(images, "t.qcow2")))
        await register(api, zone, images.url("missing.qcow2"), want="failed")
        other = await ok(await api.post("/zones", json={"name": unique("zone")}), 201)
        await store(api, settings, other["id"])
        await done(await api.post(f"/templates/{tpl['id']}/copies", json={"zone_id": other["id"]}))
        vm = await deploy(api, {**fab, "template": tpl})
        await wait_operation(api, vm["operation"]["id"])
        # An ISO put in the VM's drive, then taken out.
        (images.root / "i.iso").write_bytes(b"\0" * 65536)
        iso, _ = await register(api, zone, images.url("i.iso"), format="iso")
        iso_body = {"iso_id": iso["id"]}
        await done(await api.post(f"/vms/{vm['resource']['id']}/attach-iso", json=iso_body))
        await done(await api.post(f"/vms/{vm['resource']['id']}/detach-iso"))
        # A VM snapshot with its memory, reverted to, deleted.
        r = await api.post(f"/vms/{vm['resource']['id']}/vm-snapshots", json={"memory": True})
        await done(r)
        vm_snap = (await ok(r, 202))["resource"]
        await done(await api.post(f"/vm-snapshots/{vm_snap['id']}/revert"))
        await done(await api.delete(f"/vm-snapshots/{vm_snap['id']}"))
        # A snapshot backed up, a template made from it, the snapshot deleted.
        body = {"name": unique("vol"), "zone_id": zone, "size_gb": 1}
        vol = await ok(await api.post("/volumes", json=body), 201)
        await done(
            await api.post(f"/volumes/{vol['id']}/attach", json={"vm_id": vm["resource"]["id"]})
        )
        await done(await api.post(f"/volumes/{vol['id']}/detach"))
        snap = (await ok(await api.post(f"/volumes/{vol['id']}/snapshots"), 202))["resource"]
        await asyncio.sleep(2)
        await done(await api.post(f"/snapshots/{snap['id']}/backup"))
        await done(await api.post(f"/snapshots/{snap['id']}/templates", json={"name": unique("t")}))
        await done(await api.delete(f"/snapshots/{snap['id']}"))
        # A backup of the stopped VM, a volume restored from it, the backup deleted.
        await act(api, vm["resource"]["id"], "stop")
        offering = await ok(await api.post("/backup-offerings", json={"name": unique("o")}), 201)
        body = {"offering_id": offering["id"]}
        r = await api.post(f"/vms/{vm['resource']['id']}/backups", json=body)
        backup = (await ok(r, 202))["resource"]
        await done(r)
        root = (await ok(await api.get(f"/vms/{vm['resource']['id']}")))["volumes"][0]
        body = {"volume_id": root["id"], "name": unique("restored")}
        await done(await api.post(f"/backups/{backup['id']}/volumes", json=body))
        r = await api.post(f"/backups/{backup['id']}/vms", json={"name": unique("phoenix")})
        await done(r)  # a new VM from the backup, then gone (its template is deleted below)
        await act(api, (await ok(r, 202))["resource"]["id"], "destroy", {"expunge": True})
        await done(await api.delete(f"/backups/{backup['id']}"))
        # A backup schedule, fired once by hand.
        vm_id = vm["resource"]["id"]
        await ok(
            await api.post(f"/vms/{vm_id}/backup-offering", json={"offering_id": offering["id"]})
        )
        body = {"interval_type": "DAILY", "schedule": "00:03"}
        sched = await ok(await api.post(f"/vms/{vm_id}/backup-schedules", json=body), 201)
        await platform.client.get_schedule_handle(sched["schedule_id"]).trigger()
        for _ in range(150):
            page = await ok(await api.get("/backups", params={"vm_id": vm_id}))
            if any(b["state"] == "BackedUp" for b in page["items"]):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # the run waits for the backup's operation
        assert (await api.delete(f"/backup-schedules/{sched['id']}")).status_code == 204
        await act(api, vm["resource"]["id"], "destroy", {"expunge": True})
        for _ in range(100):
            got = await ok(await api.get(f"/vms/{vm['resource']['id']}"))
            if got["state"] == "Expunged":
                break
            await asyncio.sleep(0.2)
        assert await evict(platform.db, platform, settings) == 2  # the template, the ISO
        await asyncio.sleep(2)
        await done(await api.delete(f"/templates/{tpl['id']}"))


async def _network_operations(api: httpx.AsyncClient) -> None:
    """Every guest network workflow: a rule applied, a restart, a shutdown, a delete."""
    from tests.workflows.test_guest_networks import guest_zone, running_on

    fab = await guest_zone(api, hosts=1)
    net_id = fab["network"]["id"]
    vm = await running_on(api, fab, net_id)
    ip = await ok(
        await api.post("/public-ips", json={"zone_id": fab["zone"]["id"], "network_id": net_id}),
        201,
    )
    r = await api.post(f"/public-ips/{ip['id']}/firewall-rules", json={"protocol": "icmp"})
    await ok(r, 201)
    op = r.headers["Operation-Location"].rsplit("/", 1)[1]
    assert (await wait_operation(api, op))["state"] == "succeeded"
    group = await ok(await api.post("/security-groups", json={"name": unique("g")}), 201)
    r = await api.post(
        f"/security-groups/{group['id']}/rules", json={"protocol": "icmp", "cidr": "0.0.0.0/0"}
    )
    await ok(r, 201)
    op = r.headers["Operation-Location"].rsplit("/", 1)[1]
    assert (await wait_operation(api, op))["state"] == "succeeded"
    r = await ok(await api.post(f"/networks/{net_id}/restart", json={"cleanup": True}), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    await act(api, vm["id"], "stop")
    r = await ok(await api.post(f"/networks/{net_id}/shutdown"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    await act(api, vm["id"], "start")  # implemented again
    await act(api, vm["id"], "destroy", {"expunge": True})
    r = await ok(await api.delete(f"/networks/{net_id}"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"


async def _managed_service(api: httpx.AsyncClient, fab: dict[str, Any]) -> None:
    """ManagedService: two instances, a rollout, a delete (the run ends)."""
    from tests.workflows.test_managed_services import definition, settled

    svc = await ok(await api.post("/managed-services", json=definition(fab, desired=2)), 201)
    await settled(api, svc["id"], 2)
    await ok(await api.post(f"/managed-services/{svc['id']}/rollout", json={"release": "2.0"}))
    await settled(api, svc["id"], 2, "2.0")
    await ok(await api.delete(f"/managed-services/{svc['id']}"), 202)
    for _ in range(300):
        if (await api.get(f"/managed-services/{svc['id']}")).status_code == 404:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the managed service was not removed")


async def test_refresh_histories(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    temporal_client: Client,
    tmp_path: Path,
    host_dir: Path,
) -> None:
    assert libvirt_module() is not None, "the agent's histories need libvirt-python"
    fab = await vm_zone(api, hosts=2)
    big = await ok(
        await api.post(
            "/service-offerings",
            json={"name": unique("big"), "cpu_count": 2, "cpu_speed_mhz": 1000, "memory_mb": 2048},
        ),
        201,
    )
    vm = (await deploy(api, fab))["resource"]
    await wait_operation(api, (await deploy(api, fab, name=vm["name"] + "x"))["operation"]["id"])
    await act(api, vm["id"], "reboot")
    await act(api, vm["id"], "scale", {"service_offering_id": big["id"]})  # live
    await act(api, vm["id"], "stop")
    await act(api, vm["id"], "scale", {"service_offering_id": fab["offering"]["id"]})
    await act(api, vm["id"], "start")
    await act(api, vm["id"], "migrate")  # live
    await act(api, vm["id"], "migrate", {"live": False})
    host = (await ok(await api.get(f"/vms/{vm['id']}")))["host_id"]
    r = await ok(await api.post(f"/hosts/{host}/maintenance"), 202)
    assert (await wait_operation(api, r["operation"]["id"]))["state"] == "succeeded"
    await ok(await api.post(f"/hosts/{host}/cancel-maintenance"))
    await _volume_operations(api, temporal_client, fab, vm["id"])
    await _template_operations(api, platform, settings, fab, tmp_path / "www")
    await _network_operations(api)
    await act(api, vm["id"], "destroy")
    await act(api, vm["id"], "recover")  # cancels the ExpungeVm timer
    await act(api, vm["id"], "destroy", {"expunge": True})
    huge = await ok(
        await api.post(
            "/service-offerings",
            json={"name": unique("huge"), "cpu_count": 1, "cpu_speed_mhz": 1, "memory_mb": 10**7},
        ),
        201,
    )
    failed = await deploy(api, fab, service_offering_id=huge["id"])
    assert (await wait_operation(api, failed["operation"]["id"]))["state"] == "failed"
    await _managed_service(api, fab)
    await examine(db, temporal_client, queue=settings.orchestration_queue)
    await _agent_histories(api, platform, settings, db, tmp_path, host_dir)

    # STRATO_REFRESH_MISSING=1 only adds histories of workflow types that have none yet
    # (a new operation), keeping the stored ones of older code shapes.
    only_missing = os.environ.get("STRATO_REFRESH_MISSING") == "1"
    kept = {json.loads(p.read_text())["workflow_type"] for p in HISTORIES.glob("*.json")}
    if not only_missing:
        for old in HISTORIES.glob("*.json"):
            old.unlink()
        kept = set()
    HISTORIES.mkdir(exist_ok=True)
    query = f"TaskQueue = '{settings.orchestration_queue}'"
    seen: Counter[str] = Counter()
    async for wf in temporal_client.list_workflows(query):
        if wf.workflow_type in kept:
            continue
        seen[wf.workflow_type] += 1
        if seen[wf.workflow_type] > 3:
            continue
        history = await temporal_client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        name = f"{wf.workflow_type}-{wf.status.name.lower() if wf.status else 'unknown'}"
        path = HISTORIES / f"{name}-{seen[wf.workflow_type]}.json"
        path.write_text(
            json.dumps(
                {
                    "workflow_type": wf.workflow_type,
                    "workflow_id": wf.id,
                    "history": json.loads(history.to_json()),
                },
                indent=1,
            )
        )
    print(f"stored histories: {dict(seen)}")
