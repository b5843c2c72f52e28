"""An ended operation's outcome is recorded in PostgreSQL and outlives Temporal's retention
(issue #11, item 4): no 500 for an operation whose run Temporal has deleted."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from strato.commands.view import record_ended
from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


async def _forget(db: Database, client: Client, op: dict[str, Any]) -> None:
    """Make Temporal not know the operation's run, as after its retention: the row now
    names a workflow id Temporal never had (deleting a run is asynchronous on the dev
    server and took longer than a test should wait)."""
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE operations SET workflow_id = $2 WHERE id = $1",
            UUID(op["id"]),
            f"forgotten-{op['id']}",
        )
    with pytest.raises(RPCError):
        await client.get_workflow_handle(f"forgotten-{op['id']}").describe()


async def _outcome(db: Database, op_id: str) -> Any:
    async with db.conn() as conn:
        return await conn.fetchval("SELECT outcome FROM operations WHERE id = $1", UUID(op_id))


async def test_an_ended_operation_is_served_after_temporal_forgets_it(
    api: httpx.AsyncClient, platform: Platform, db: Database, temporal_client: Client
) -> None:
    fab = await vm_zone(api, hosts=1)
    read = await deploy(api, fab)
    unread = await deploy(api, fab)
    lost = await deploy(api, fab)
    done = await wait_operation(api, read["operation"]["id"])  # read once it ended
    assert done["state"] == "succeeded" and await _outcome(db, done["id"]) is not None

    # The other two end without anyone reading them: the orchestrator's sweep records them.
    for accepted in (unread, lost):
        handle = temporal_client.get_workflow_handle(accepted["operation"]["workflow_id"])
        await handle.result()
    await asyncio.sleep(2.1)  # older than the sweep's grace period
    assert await record_ended(db, temporal_client) >= 2
    assert await _outcome(db, unread["operation"]["id"]) is not None
    views = {
        a["operation"]["id"]: await ok(await api.get(f"/operations/{a['operation']['id']}"))
        for a in (read, unread, lost)
    }
    # One that ended while nothing recorded it (its outcome forgotten here on purpose).
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE operations SET outcome = NULL WHERE id = $1", UUID(lost["operation"]["id"])
        )
    for op in views.values():
        await _forget(db, temporal_client, op)

    for accepted in (read, unread):
        op = await ok(await api.get(f"/operations/{accepted['operation']['id']}"))
        before = views[op["id"]]
        assert op["state"] == "succeeded" and op["result"] == before["result"], op
        assert op["ended_at"] == before["ended_at"] and op["progress"] == 100
    gone = await ok(await api.get(f"/operations/{lost['operation']['id']}"))
    assert gone["state"] == "unknown" and gone["error"]["type"] == "history-expired", gone
    listed = await ok(await api.get("/operations", params={"limit": 100}))
    assert {o["id"]: o["state"] for o in listed}[read["operation"]["id"]] == "succeeded"
