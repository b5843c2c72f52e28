"""AddHost end to end: API -> Temporal -> orchestrator -> compute@host agent -> PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.client import Client

from strato.commands import operations
from strato.domain.fabric import flows
from strato.domain.fabric.payloads import AddHostInput
from strato.domain.ids import workflow_id
from strato.schema import operations as ops_repo
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import make_fabric, ok, unique, wait_operation


async def add_host(api: httpx.AsyncClient, cluster_id: str, name: str, **headers: str) -> dict:
    r = await api.post("/hosts", json={"cluster_id": cluster_id, "name": name}, headers=headers)
    body = await ok(r, 202)
    assert r.headers["location"] == f"/api/v1/operations/{body['operation']['id']}"
    return body


async def test_add_host_comes_up_with_capacity_and_events_in_order(
    api: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    fab = await make_fabric(api)
    name = unique("h")
    accepted = await add_host(api, fab["cluster"]["id"], name)
    assert accepted["resource"]["status"] == "Creating"
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    assert op["progress"] == 100 and op["kind"] == "host.add"
    assert op["workflow_id"] == f"host-add:{accepted['resource']['id']}:{op['id']}"
    assert "/workflows/host-add%3A" in op["temporal_ui"]
    host = await ok(await api.get(f"/hosts/{accepted['resource']['id']}"))
    assert host["status"] == "Up"
    assert host["cpu_cores"] == settings.sim_host_cpu_cores
    assert host["memory_total_mb"] == settings.sim_host_memory_mb
    assert host["hypervisor_version"].startswith("strato-sim")
    evs = await ok(await api.get("/events", params={"resource_id": host["id"]}))
    changes = [
        (e["type"], e["data"].get("old_state"), e["data"].get("new_state")) for e in evs["items"]
    ]
    assert changes == [
        ("strato.host.created", None, "Creating"),
        ("strato.host.state_changed", "Creating", "Connecting"),
        ("strato.host.state_changed", "Connecting", "Up"),
    ]
    assert all(e["data"].get("operation_id") == op["id"] for e in evs["items"][1:])


async def test_search_attributes_let_sres_find_the_flow(
    api: httpx.AsyncClient, platform: Platform, temporal_client: Client
) -> None:
    fab = await make_fabric(api)
    accepted = await add_host(api, fab["cluster"]["id"], unique("h"))
    await wait_operation(api, accepted["operation"]["id"])
    host_id = accepted["resource"]["id"]
    query = f"StratoResourceId = '{host_id}' AND StratoOperation = 'add'"
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [wf.id async for wf in temporal_client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"host-add:{host_id}:{accepted['operation']['id']}"]


async def test_idempotency_key_returns_the_same_operation(
    api: httpx.AsyncClient, platform: Platform, db: Database
) -> None:
    fab = await make_fabric(api)
    name = unique("h")
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first, second = await asyncio.gather(
        add_host(api, fab["cluster"]["id"], name, **key),
        add_host(api, fab["cluster"]["id"], name, **key),
    )
    assert first["operation"]["id"] == second["operation"]["id"]
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM hosts WHERE name = $1", name) == 1
        assert await conn.fetchval("SELECT count(*) FROM operations") == 1
    # the same key with a different request is a conflict
    r = await api.post(
        "/hosts", json={"cluster_id": fab["cluster"]["id"], "name": "other"}, headers=key
    )
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["detail"]


async def test_host_without_agent_fails_fast_and_says_why(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await make_fabric(api, hypervisor="kvm")  # no kvm agent runs in this test
    accepted = await add_host(api, fab["cluster"]["id"], unique("kvm"))
    op = await wait_operation(api, accepted["operation"]["id"], timeout=30)
    assert op["state"] == "failed"
    assert op["error"]["type"] == "host-connect-failed"
    assert "no agent answered on compute@" in op["error"]["message"]
    host = await ok(await api.get(f"/hosts/{accepted['resource']['id']}"))
    assert host["status"] == "Error"
    assert "no agent answered" in host["last_error"]


async def test_injected_driver_fault_leaves_host_in_error(
    api: httpx.AsyncClient, platform: Platform
) -> None:
    fab = await make_fabric(api)
    name = unique("faulty")
    platform.fleet.faults.fail_targets = frozenset({name})
    platform.fleet.faults.fail_rate = 1.0
    accepted = await add_host(api, fab["cluster"]["id"], name)
    op = await wait_operation(api, accepted["operation"]["id"], timeout=30)
    assert op["state"] == "failed", op
    assert "simulated failure of host_facts" in op["error"]["message"]
    host = await ok(await api.get(f"/hosts/{accepted['resource']['id']}"))
    assert host["status"] == "Error"


async def test_operation_whose_starter_died_is_started_by_the_sweep(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    temporal_client: Client,
    settings: Settings,
) -> None:
    """The API committed the intent, then died before starting the workflow."""
    fab = await make_fabric(api)
    host_id, op_id, name = uuid.uuid4(), uuid.uuid4(), unique("orphan")
    async with db.tx() as conn:
        await conn.execute(
            "INSERT INTO hosts (id, zone_id, pod_id, cluster_id, name, hypervisor) "
            "VALUES ($1, $2, $3, $4, $5, 'simulator')",
            host_id,
            uuid.UUID(fab["zone"]["id"]),
            uuid.UUID(fab["pod"]["id"]),
            uuid.UUID(fab["cluster"]["id"]),
            name,
        )
        await operations.record(
            conn,
            id=op_id,
            kind="host.add",
            resource_type="host",
            resource_id=host_id,
            workflow_id=workflow_id("host", "add", host_id, op_id),
            workflow_type=flows.ADD_HOST.name,
            input=AddHostInput(
                host_id=host_id,
                host_name=name,
                zone_id=uuid.UUID(fab["zone"]["id"]),
                operation_id=op_id,
            ),
            search_attributes={"StratoResourceType": "host"},
            task_queue=settings.orchestration_queue,
        )
    pending = await ok(await api.get(f"/operations/{op_id}"))
    assert pending["state"] == "pending"
    started = await operations.sweep_unstarted(db, temporal_client, older_than_s=0)
    assert started == 1
    op = await wait_operation(api, str(op_id))
    assert op["state"] == "succeeded"
    # a second sweep finds nothing, and re-starting is a no-op (same run)
    assert await operations.sweep_unstarted(db, temporal_client, older_than_s=0) == 0
    async with db.conn() as conn:
        record = await ops_repo.get(conn, op_id)
    run_id = record.run_id
    record.run_id = None
    assert await operations.start(db, temporal_client, record) == run_id
    host = await ok(await api.get(f"/hosts/{host_id}"))
    assert host["status"] == "Up"


async def test_operations_list_and_unknown(api: httpx.AsyncClient, platform: Platform) -> None:
    fab = await make_fabric(api)
    accepted = await add_host(api, fab["cluster"]["id"], unique("h"))
    await wait_operation(api, accepted["operation"]["id"])
    listed = await ok(
        await api.get("/operations", params={"resource_id": accepted["resource"]["id"]})
    )
    assert [o["id"] for o in listed] == [accepted["operation"]["id"]]
    assert (await api.get(f"/operations/{uuid.uuid4()}")).status_code == 404
