"""One operation, one workflow run: races between operations on one VM.

Each test here reproduces a defect of the old operation model (workflow ids of the form
``vm-<verb>:<vm id>`` started with USE_EXISTING): a request made in the gap between a
run releasing the VM's lock and the run completing joined the *previous* run, reported
"succeeded" without running, and left the VM locked.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID, uuid4

import httpx

from strato.commands import operations
from strato.commands.context import Intake
from strato.domain.compute import flows
from strato.domain.compute.payloads import VmRef
from strato.domain.compute.steps import VM_EXPUNGE_BEGIN
from strato.schema import operations as ops_repo
from strato.schema.compute import vms
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.faults import FaultInjector
from tests.helpers import wait_operation
from tests.workflows.vm_helpers import act, running_vm, vm_zone


async def _post_until_accepted(
    api: httpx.AsyncClient, path: str, body: Any = None, *, within_s: float = 15.0
) -> dict[str, Any]:
    """POST as an operator's tooling would: on 409 "busy", try again at once."""
    deadline = time.monotonic() + within_s
    while True:
        r = await api.post(path, json=body)
        if r.status_code == 202:
            accepted: dict[str, Any] = r.json()
            return accepted
        assert r.status_code == 409, r.text
        assert time.monotonic() < deadline, f"still refused after {within_s}s: {r.text}"
        await asyncio.sleep(0.005)


async def _wait_unlocked(db: Database, vm_id: str, within_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        async with db.conn() as conn:
            row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1", UUID(vm_id))
        if row["current_operation_id"] is None:
            return dict(row)
        assert time.monotonic() < deadline, (
            f"VM left locked by operation {row['current_operation_id']} "
            f"({row['current_operation_kind']}) in state {row['state']}"
        )
        await asyncio.sleep(0.05)


async def test_back_to_back_reboots_each_run_their_own_workflow(
    platform: Platform, api: httpx.AsyncClient, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)

    count = 200
    ops: list[dict[str, Any]] = []
    for _ in range(count):
        ops.append((await _post_until_accepted(api, f"/vms/{vm_id}/reboot"))["operation"])
    row = await _wait_unlocked(db, vm_id)
    assert row["state"] == "Running"

    assert len({op["workflow_id"] for op in ops}) == count, "operations shared a workflow run"
    assert len({op["run_id"] for op in ops}) == count
    for op in ops:
        assert str(op["id"]) in op["workflow_id"]
        assert (await wait_operation(api, op["id"]))["state"] == "succeeded"
    async with db.conn() as conn:
        rebooted = await conn.fetch(
            """SELECT operation_id, count(*) AS n FROM events
               WHERE type = 'strato.vm.rebooted' AND resource_id = $1 GROUP BY operation_id""",
            UUID(vm_id),
        )
    per_op = {str(r["operation_id"]): r["n"] for r in rebooted}
    assert per_op == {op["id"]: 1 for op in ops}, "each reboot runs once, with its own event"


async def test_explicit_expunge_racing_the_delay_timer_has_one_clear_outcome(
    faulty_platform: Platform,
    faults: FaultInjector,
    api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
) -> None:
    """The explicit expunge arrives around the moment the destroy's delay timer fires:
    either it runs (202, succeeded) or it is refused (409 naming why); never a 500, and
    the VM always ends Expunged with its lock released. The expunge's first step (which
    takes the lock) is slowed by 2 s so that requests land inside the window between the
    timer firing and the lock being taken."""
    settings.expunge_delay_s = 1.0
    faults.delay_s[VM_EXPUNGE_BEGIN.name] = 2.0
    fab = await vm_zone(api, hosts=1)
    vm_ids = [await running_vm(api, fab) for _ in range(6)]
    outcomes: list[str] = []
    for i, vm_id in enumerate(vm_ids):
        await act(api, vm_id, "destroy")
        await asyncio.sleep(0.5 + 0.5 * i)  # before the timer fires, and inside the window
        r = await api.post(f"/vms/{vm_id}/expunge")
        assert r.status_code in (202, 409), r.text
        if r.status_code == 202:
            op = await wait_operation(api, r.json()["operation"]["id"])
            assert op["state"] == "succeeded", op
            outcomes.append("ran")
        else:
            problem = r.json()
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "expung" in problem["detail"].lower(), problem
            outcomes.append("refused")
        row = await _wait_unlocked(db, vm_id)
        deadline = time.monotonic() + 20
        while row["state"] != "Expunged":
            assert time.monotonic() < deadline, f"VM {vm_id} is {row['state']}"
            await asyncio.sleep(0.1)
            row = await _wait_unlocked(db, vm_id)
    assert "ran" in outcomes, outcomes
    print("explicit expunges:", outcomes)


async def test_sweep_adopts_the_run_of_its_own_operation(
    platform: Platform, api: httpx.AsyncClient, db: Database
) -> None:
    """A starter that died after starting the workflow but before recording its run:
    the sweep finds the run by the operation id it carries and starts no second one."""
    fab = await vm_zone(api, hosts=1)
    vm_id = UUID(await running_vm(api, fab))

    op_id = uuid4()
    async with db.tx() as conn:
        vm = await vms.acquire(conn, vm_id, op_id, "reboot", frozenset({vms.VmState.RUNNING}))
        intake = Intake(None, None, platform.settings.orchestration_queue)
        record = await intake.record(
            conn,
            operation_id=op_id,
            resource_type="vm",
            resource_id=vm.id,
            verb="reboot",
            workflow_type=flows.REBOOT_VM.name,
            input=VmRef(vm_id=vm.id, operation_id=op_id),
            attributes={},
        )
    # The crashed starter's start: the run exists, the row does not know it.
    run_id = await operations.start(db, platform.client, record, fresh=True)
    async with db.conn() as conn:
        await ops_repo.set_run_id(conn, op_id, None)
    assert await operations.sweep_unstarted(db, platform.client, older_than_s=0) == 1
    async with db.conn() as conn:
        assert (await ops_repo.get(conn, op_id)).run_id == run_id
    runs = [w async for w in platform.client.list_workflows(f"WorkflowId = '{record.workflow_id}'")]
    assert len(runs) <= 1  # visibility may lag; a second run would show here
    assert (await wait_operation(api, str(op_id)))["state"] == "succeeded"
    await _wait_unlocked(db, str(vm_id))
