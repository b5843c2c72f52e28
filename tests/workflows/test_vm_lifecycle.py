"""The full VM lifecycle through the API, on simulated hosts, with real Temporal + PG."""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from strato.drivers.faults import FaultPlan
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, table_counts, wait_operation
from tests.workflows.vm_helpers import act, deploy, vm_zone


async def host_usage(db: Database) -> list[tuple[str, int, int, int, int]]:
    """(host, used cpu, sum of claims cpu, used mem, sum of claims mem) per host."""
    async with db.conn() as conn:
        rows = await conn.fetch(
            """SELECT h.name, h.cpu_used_mhz, coalesce(sum(c.cpu_mhz), 0) AS cpu_claims,
                      h.memory_used_mb, coalesce(sum(c.memory_mb), 0) AS mem_claims
               FROM hosts h LEFT JOIN host_claims c ON c.host_id = h.id
               GROUP BY h.id ORDER BY h.name"""
        )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def test_full_lifecycle_with_events_in_order(
    api: httpx.AsyncClient, platform: Platform, db: Database, settings: Settings
) -> None:
    fab = await vm_zone(api, hosts=2)
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    assert accepted["resource"]["state"] == "Allocated"
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running" and vm["host_name"] in {h["name"] for h in fab["hosts"]}
    assert vm["nics"][0]["ip_address"] == "10.20.0.10"
    assert vm["volumes"][0]["state"] == "Ready" and vm["volumes"][0]["kind"] == "ROOT"
    assert vm["current_operation_id"] is None
    sim = platform.fleet.drivers[vm["host_name"]]
    assert sim.vms[f"strato-{vm_id}"].power == "running"

    await act(api, vm_id, "reboot")
    assert sim.vms[f"strato-{vm_id}"].boots == 2
    await act(api, vm_id, "stop")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Stopped" and vm["host_id"] is None
    assert f"strato-{vm_id}" not in sim.vms  # a stopped VM keeps no domain
    assert all(u[1] == 0 for u in await host_usage(db))  # capacity released on stop
    await act(api, vm_id, "start")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Running" and vm["nics"][0]["ip_address"] == "10.20.0.10"
    bigger = await ok(
        await api.post(
            "/service-offerings",
            json={"name": "bigger", "cpu_count": 2, "cpu_speed_mhz": 1000, "memory_mb": 2048},
        ),
        201,
    )
    await act(api, vm_id, "scale", {"service_offering_id": bigger["id"]})
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["cpu_count"] == 2 and vm["memory_mb"] == 2048
    assert [u[1:] for u in await host_usage(db) if u[1]] == [(2000, 2000, 2048, 2048)]
    await act(api, vm_id, "destroy")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Destroyed" and vm["expunge_at"] is not None
    assert all(u[1] == 0 for u in await host_usage(db))
    await act(api, vm_id, "recover")
    assert (await ok(await api.get(f"/vms/{vm_id}")))["state"] == "Stopped"
    await act(api, vm_id, "destroy")
    await act(api, vm_id, "expunge")
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Expunged"
    assert vm["nics"] == [] and vm["volumes"][0]["state"] == "Expunged"
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ip_addresses WHERE state <> 'Free'") == 0
        assert await conn.fetchval("SELECT sum(allocated_bytes) FROM storage_pools") == 0

    evs = await ok(await api.get("/events", params={"resource_id": vm_id, "limit": 1000}))
    states = [
        (e["data"]["old_state"], e["data"]["new_state"])
        for e in evs["items"]
        if e["type"] == "strato.vm.state_changed"
    ]
    assert states == [
        ("Allocated", "Starting"),
        ("Starting", "Running"),
        ("Running", "Stopping"),
        ("Stopping", "Stopped"),
        ("Stopped", "Starting"),
        ("Starting", "Running"),
        ("Running", "Stopping"),
        ("Stopping", "Destroyed"),
        ("Destroyed", "Stopped"),
        ("Stopped", "Destroyed"),
        ("Destroyed", "Expunging"),
        ("Expunging", "Expunged"),
    ]


async def test_illegal_transitions_are_409_and_change_nothing(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    await wait_operation(api, accepted["operation"]["id"])
    await act(api, vm_id, "destroy")
    before = await table_counts(db)
    for verb in ("start", "stop", "reboot"):
        r = await api.post(f"/vms/{vm_id}/{verb}")
        assert r.status_code == 409, r.text
        assert r.json()["type"] == "/problems/illegal-transition"
        assert "Destroyed" in r.json()["detail"]
    assert await table_counts(db) == before


async def test_second_mutating_request_is_409_naming_the_running_one(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    platform.fleet.faults.latency_ms = 300  # keep the deploy busy for a while
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    r = await api.post(f"/vms/{vm_id}/destroy")
    assert r.status_code == 409
    assert r.json()["operation_id"] == accepted["operation"]["id"]
    # the same request with the same Idempotency-Key returns the first operation
    await wait_operation(api, accepted["operation"]["id"])
    key = {"Idempotency-Key": "stop-once"}
    a, b = await asyncio.gather(
        api.post(f"/vms/{vm_id}/stop", headers=key), api.post(f"/vms/{vm_id}/stop", headers=key)
    )
    assert a.status_code == b.status_code == 202, (a.json().get("detail"), b.json().get("detail"))
    assert a.json()["operation"]["id"] == b.json()["operation"]["id"]


async def test_start_without_a_free_address_fails_back_to_stopped(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    """Found by the chaos suite: a VM recovered from Error has no NIC; starting it when
    the network is full must fail cleanly (Stopped, lock released), not strand it."""
    fab = await vm_zone(api, hosts=1, network=False)
    await ok(
        await api.post(
            "/networks",
            json={
                "zone_id": fab["zone"]["id"],
                "name": "tiny",
                "cidr": "10.40.0.0/24",
                "gateway": "10.40.0.1",
                "ip_start": "10.40.0.10",
                "ip_end": "10.40.0.10",
            },
        ),
        201,
    )
    first = await deploy(api, fab)
    assert (await wait_operation(api, first["operation"]["id"]))["state"] == "succeeded"
    second = await deploy(api, fab)
    assert (await wait_operation(api, second["operation"]["id"]))["state"] == "failed"
    vm_id = second["resource"]["id"]
    await act(api, vm_id, "destroy")
    await act(api, vm_id, "recover")
    op = await act(api, vm_id, "start", expect="failed")
    assert "no free IP address" in op["error"]["message"], op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Stopped" and vm["current_operation_id"] is None, vm
    assert "no free IP address" in vm["last_error"]
    await act(api, first["resource"]["id"], "destroy", {"expunge": True})
    await act(api, vm_id, "start")  # the address is free again


async def test_destroy_with_expunge_is_one_run_under_one_lock(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Client
) -> None:
    """No child workflow: the destroy's own run expunges; a failed expunge step leaves the
    VM in Error, unlocked, and saying why."""
    fab = await vm_zone(api, hosts=1)
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    sim = platform.fleet.drivers[vm["host_name"]]
    pool = next(iter(platform.fleet.pools.values()))
    volume = vm["volumes"][0]["name"]
    assert volume in pool.volumes

    op = await act(api, vm_id, "destroy", {"expunge": True})
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Expunged" and vm["current_operation_id"] is None
    assert f"strato-{vm_id}" not in sim.vms and volume not in pool.volumes
    with pytest.raises(RPCError):  # no delayed-expunge child was started
        await temporal_client.get_workflow_handle(f"vm-expunge:{vm_id}").describe()
    async with db.conn() as conn:
        states = [
            r["new_state"]
            for r in await conn.fetch(
                """SELECT new_state FROM events WHERE resource_id = $1
                   AND type = 'strato.vm.state_changed' AND operation_id = $2 ORDER BY seq""",
                UUID(vm_id),
                UUID(op["id"]),
            )
        ]
    assert states == ["Stopping", "Destroyed", "Expunging", "Expunged"]

    # The pool refuses to delete: the same operation ends with the VM in Error, unlocked.
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    assert (await wait_operation(api, accepted["operation"]["id"]))["state"] == "succeeded"
    pool.faults = FaultPlan(fail_rate=1.0, fail_ops=frozenset({"delete_volume"}))
    try:
        op = await act(api, vm_id, "destroy", {"expunge": True}, expect="failed")
    finally:
        pool.faults = FaultPlan()
    assert op["error"]["type"] == "expunge-failed", op
    vm = await ok(await api.get(f"/vms/{vm_id}"))
    assert vm["state"] == "Error" and vm["current_operation_id"] is None
    assert "simulated failure of delete_volume" in vm["last_error"]
