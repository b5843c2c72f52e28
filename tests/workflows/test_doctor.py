"""`strato doctor`: each kind of discrepancy is found with its fix, nothing changes
without --repair, --repair fixes every one, and a second run is clean."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from strato.doctor import examine
from strato.doctor import storage as doctor_storage
from strato.domain.compute.specs import PowerState, VmSpec
from strato.domain.storage.specs import VolumeSpec
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.vm_helpers import act, deploy, vm_zone


async def _running(api: httpx.AsyncClient, fab: dict[str, Any], n: int) -> list[dict[str, Any]]:
    accepted = [await deploy(api, fab) for _ in range(n)]
    for a in accepted:
        assert (await wait_operation(api, a["operation"]["id"]))["state"] == "succeeded"
    return [await ok(await api.get(f"/vms/{a['resource']['id']}")) for a in accepted]


async def _cli(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "strato.cli",
        "doctor",
        "--json",
        *args,
        env={
            "PATH": "/usr/bin:/bin",
            "STRATO_DATABASE_URL": str(settings.database_url),
            "STRATO_TEMPORAL_ADDRESS": str(settings.temporal_address),
            "STRATO_ORCHESTRATION_QUEUE": settings.orchestration_queue,
            "STRATO_DATA_DIR": str(settings.data_dir),
        },
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, json.loads(out)


async def test_doctor_finds_and_repairs_every_kind(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    temporal_client: Client,
) -> None:
    fab = await vm_zone(api, hosts=2)
    a, b, c, d, e = await _running(api, fab, 5)
    await act(api, b["id"], "stop")
    await act(api, d["id"], "stop")
    await act(api, c["id"], "destroy", {"expunge": True})
    queue = settings.orchestration_queue

    clean = await examine(db, temporal_client, queue=queue)
    assert clean.findings == [], clean.findings
    assert clean.hosts_compared == 2 and clean.pools_compared == 1

    host_a = next(h for h in fab["hosts"] if h["id"] == a["host_id"])["name"]
    pool = next(iter(platform.fleet.pools.values()))
    orphan_volume = f"strato-vol-{uuid.uuid4()}"
    async with db.tx() as conn:
        # counters that disagree with the claims
        await conn.execute(
            "UPDATE hosts SET cpu_used_mhz = cpu_used_mhz + 500 WHERE id = $1", a["host_id"]
        )
        # a claim of a stopped VM (with counters that agree with it)
        await conn.execute(
            "INSERT INTO host_claims (vm_id, host_id, cpu_mhz, memory_mb) VALUES ($1, $2, 1000, 1)",
            b["id"],
            a["host_id"],
        )
        await conn.execute(
            """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz + 1000,
                                memory_used_mb = memory_used_mb + 1 WHERE id = $1""",
            a["host_id"],
        )
        # an address still held for an expunged VM
        await conn.execute(
            """UPDATE ip_addresses SET state = 'Releasing', vm_id = $1
               WHERE address = '10.20.0.200'""",
            c["id"],
        )
        # a VM left Starting with nobody working on it
        await conn.execute("UPDATE vms SET state = 'Starting' WHERE id = $1", d["id"])
        # a lock held by an operation that ended long ago (A's deploy)
        await conn.execute(
            """UPDATE vms SET current_operation_id = (
                   SELECT id FROM operations WHERE resource_id = $1 AND kind = 'vm.deploy'),
                   current_operation_kind = 'deploy' WHERE id = $1""",
            a["id"],
        )
    # the drivers: a domain of the expunged VM, a running VM's domain gone, a stray volume
    host_c = platform.fleet.drivers[host_a]
    await host_c.define_vm(
        VmSpec(name=f"strato-{c['id']}", uuid=c["id"], cpu_count=1, cpu_speed_mhz=1, memory_mb=64)
    )
    e_host = next(h for h in fab["hosts"] if h["id"] == e["host_id"])["name"]
    await platform.fleet.drivers[e_host].undefine_vm(f"strato-{e['id']}")
    await pool.create_volume(VolumeSpec(name=orphan_volume, size_bytes=1 << 20))

    before = await table_counts(db)
    code, report = await _cli(settings)
    assert code == 1
    found = {(f["check"], f["resource"].split(" (")[0]) for f in report["findings"]}
    assert found == {
        ("host-capacity", f"host {host_a}"),
        ("stray-host-claim", f"vm {b['name']}"),
        ("leaked-ip", "ip 10.20.0.200"),
        ("stuck-vm", f"vm {d['name']}"),
        ("stuck-vm", f"vm {a['name']}"),
        ("orphan-domain", f"domain strato-{c['id']} on {host_a}"),
        ("vm-not-running", f"vm {e['name']}"),
        ("orphan-volume", f"volume {orphan_volume} on {pool.pool_name}"),
    }, report["findings"]
    assert all(f["fix"] for f in report["findings"])
    assert not any(f["repaired"] for f in report["findings"])
    assert await table_counts(db) == before, "a report without --repair changed nothing"
    assert f"strato-{c['id']}" in host_c.vms and orphan_volume in pool.volumes

    code, repaired = await _cli(settings, "--repair")
    assert code == 1
    assert all(f["repaired"] for f in repaired["findings"]), repaired["findings"]

    code, after = await _cli(settings)
    assert (code, after["findings"]) == (0, []), after
    assert f"strato-{c['id']}" not in host_c.vms and orphan_volume not in pool.volumes
    async with db.conn() as conn:
        states = {
            r["id"]: r["state"]
            for r in await conn.fetch(
                "SELECT id::text, state FROM vms WHERE id::text = ANY($1)", [d["id"], e["id"]]
            )
        }
        assert states == {d["id"]: "Error", e["id"]: "Stopped"}
        # the repairs are on the record
        assert (
            await conn.fetchval("SELECT current_operation_id FROM vms WHERE id = $1", a["id"])
            is None
        )
        assert (
            await conn.fetchval("SELECT state FROM ip_addresses WHERE address = '10.20.0.200'")
            == "Free"
        )
        repairs = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'strato.doctor.repaired'"
        )
        assert repairs == len(repaired["findings"])
    # the repaired VMs can be operated again
    await act(api, a["id"], "stop")
    await act(api, e["id"], "start")


async def test_repair_rechecks_its_evidence_and_spares_a_vm_started_meanwhile(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    settings: Settings,
    temporal_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A domain is an orphan when listed (its VM Stopped); the VM is started before the
    repair runs. The undefine is skipped (the VM's row changed), the VM keeps running; an
    orphan whose evidence still holds is undefined in the same run."""
    fab = await vm_zone(api, hosts=1)
    host = fab["hosts"][0]["name"]
    (b,) = await _running(api, fab, 1)
    await act(api, b["id"], "stop")
    driver = platform.fleet.drivers[host]
    stray = str(uuid.uuid4())  # no VM has this uuid
    for name, vm_uuid in ((f"strato-{b['id']}", b["id"]), (f"strato-{stray}", stray)):
        await driver.define_vm(
            VmSpec(name=name, uuid=vm_uuid, cpu_count=1, cpu_speed_mhz=1, memory_mb=64)
        )

    started = 0
    real = doctor_storage.pools_report

    async def start_after_findings(*args: Any) -> None:
        nonlocal started
        await real(*args)  # the last check before the repairs
        started += 1
        await act(api, b["id"], "start")  # between the findings and the repair

    monkeypatch.setattr(doctor_storage, "pools_report", start_after_findings)
    report = await examine(db, temporal_client, queue=settings.orchestration_queue, repair=True)
    assert started == 1
    by_resource = {f.resource: f for f in report.findings if f.check == "orphan-domain"}
    assert set(by_resource) == {
        f"domain strato-{b['id']} on {host}",
        f"domain strato-{stray} on {host}",
    }
    assert not by_resource[f"domain strato-{b['id']} on {host}"].repaired
    assert by_resource[f"domain strato-{stray} on {host}"].repaired
    assert any(n.startswith(f"not done: undefine strato-{b['id']}") for n in report.notes)
    # The started VM's domain is still there and running; the stray one is gone.
    assert driver.vms[f"strato-{b['id']}"].power == PowerState.RUNNING
    assert f"strato-{stray}" not in driver.vms
    assert (await ok(await api.get(f"/vms/{b['id']}")))["state"] == "Running"
    async with db.conn() as conn:
        recorded = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'strato.doctor.repaired'"
        )
    assert recorded == 1
