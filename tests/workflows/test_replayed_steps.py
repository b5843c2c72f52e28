"""An operation whose steps run again after it finished ends with the same outcome.

A workflow task whose completion is lost (its worker starved past the task timeout, or
killed) is retried, and the local (data-service) steps it ran are run again, including an
operation's first step after its last one already released the VM. Running a second
execution of the very same operation (same input, same operation id) reproduces that
exactly: it must report the first execution's outcome and change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from strato.domain.compute.payloads import VmResult
from strato.schema import operations
from strato.schema.db import Database
from strato.settings import Settings
from strato.workflows.registry import ALL_WORKFLOWS
from tests.conftest import Platform
from tests.helpers import wait_operation
from tests.workflows.vm_helpers import act, deploy, huge_offering, running_vm, vm_zone


async def _snapshot(db: Database, vm_id: str) -> tuple[dict[str, Any], int]:
    async with db.conn() as conn:
        row = dict(await conn.fetchrow("SELECT * FROM vms WHERE id = $1", UUID(vm_id)))
        n = await conn.fetchval("SELECT count(*) FROM events WHERE resource_id = $1", UUID(vm_id))
    return row, n


async def _run_again(
    db: Database, client: Client, settings: Settings, operation_id: str
) -> VmResult:
    async with db.conn() as conn:
        op = await operations.get(conn, UUID(operation_id))
    result: VmResult = await client.execute_workflow(
        op.workflow_type,
        op.input,
        id=f"again-{uuid.uuid4()}",
        task_queue=settings.orchestration_queue,
        result_type=VmResult,
    )
    return result


async def test_a_finished_reboot_run_again_reboots_nothing(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    temporal_client: Client,
    settings: Settings,
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)
    op = await act(api, vm_id, "reboot")
    before = await _snapshot(db, vm_id)

    result = await _run_again(db, temporal_client, settings, op["id"])

    assert result.state == "Running" and str(result.vm_id) == vm_id
    assert await _snapshot(db, vm_id) == before  # no second reboot, no event, no lock


async def test_a_failed_deploy_run_again_fails_the_same_way(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    temporal_client: Client,
    settings: Settings,
) -> None:
    fab = await vm_zone(api, hosts=1)
    fab["offering"] = await huge_offering(api)
    accepted = await deploy(api, fab)
    vm_id = accepted["resource"]["id"]
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "failed" and op["error"]["type"] == "insufficient-capacity", op
    before = await _snapshot(db, vm_id)
    assert before[0]["state"] == "Error" and before[0]["current_operation_id"] is None

    with pytest.raises(WorkflowFailureError) as failed:
        await _run_again(db, temporal_client, settings, op["id"])

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "insufficient-capacity", cause
    assert "memory" in str(cause)
    assert await _snapshot(db, vm_id) == before


async def test_another_operation_is_still_refused(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    temporal_client: Client,
    settings: Settings,
) -> None:
    """The outcome is replayed only for the operation that finished last: an older one
    run again meets a VM another operation has changed since, and is refused."""
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)
    first = await act(api, vm_id, "reboot")
    await act(api, vm_id, "reboot")
    before = await _snapshot(db, vm_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await _run_again(db, temporal_client, settings, first["id"])
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "conflict", cause
    assert await _snapshot(db, vm_id) == before


async def test_histories_of_todays_shapes_replay(
    api: httpx.AsyncClient,
    platform: Platform,
    db: Database,
    temporal_client: Client,
) -> None:
    """Every run of today's shapes (the patched ones included) replays from its history, as
    a worker does after a restart or to answer a query on an evicted run."""
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)
    ops = [
        await act(api, vm_id, "stop"),
        await act(api, vm_id, "start"),
        await act(api, vm_id, "reboot"),
        await act(api, vm_id, "destroy", {"expunge": True}),
    ]
    fab["offering"] = await huge_offering(api)
    failed = await deploy(api, fab)
    ops.append(await wait_operation(api, failed["operation"]["id"]))
    assert ops[-1]["state"] == "failed"
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    for op in ops:
        handle = temporal_client.get_workflow_handle(op["workflow_id"], run_id=op["run_id"])
        history = await handle.fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (op["kind"], result.replay_failure)


async def test_every_shape_runs_on_a_worker_that_replays_every_task(
    settings: Settings, db: Database, temporal_client: Client, api: httpx.AsyncClient
) -> None:
    """With no workflow cache, each workflow task replays the run's whole history, patch
    markers included: every operation's shape still runs to its end. (A patch decided
    after a local step broke only queries on runs mid-task; test_vm_placement's 100
    concurrent deploys catch that one.)"""
    platform = Platform(settings, db, temporal_client)
    platform.max_cached_workflows = 0
    await platform.start()
    try:
        fab = await vm_zone(api, hosts=1)
        vm_id = await running_vm(api, fab)
        for verb, body in (("stop", None), ("start", None), ("reboot", None)):
            await act(api, vm_id, verb, body)
        await act(api, vm_id, "destroy", {"expunge": True})
        fab["offering"] = await huge_offering(api)
        failed = await deploy(api, fab)
        op = await wait_operation(api, failed["operation"]["id"])
        assert op["state"] == "failed" and op["error"]["type"] == "insufficient-capacity", op
    finally:
        await platform.stop()
