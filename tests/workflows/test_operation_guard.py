"""The guard shared by every operation: a failure its code did not handle still ends with
the resource in a defined state and its lock released (never a VM locked until
`strato doctor --repair`).

Faults are injected into each workflow type's last step (its finish), once as a
non-retryable error from the step and once as a bug in the workflow code itself, and
once as a cancellation.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest
from temporalio.client import Client

from strato.domain.compute.steps import VM_FINISH
from strato.domain.fabric.steps import HOST_CONNECTED
from strato.schema.db import Database
from tests.conftest import Platform
from tests.faults import FaultInjector
from tests.helpers import ok, unique, wait_operation
from tests.workflows.vm_helpers import act, deploy, running_vm, vm_zone


async def _vm_row(db: Database, vm_id: str) -> dict[str, Any]:
    async with db.conn() as conn:
        return dict(await conn.fetchrow("SELECT * FROM vms WHERE id = $1", UUID(vm_id)))


# verb, the finish target the fault hits, the state the VM must end in.
CASES = [
    ("deploy", "Running", "Error"),
    ("start", "Running", "Error"),
    ("stop", "Stopped", "Error"),
    ("reboot", "Running", "Running"),
    ("scale", "Stopped", "Stopped"),
    ("destroy", "Destroyed", "Error"),
    ("recover", "Stopped", "Destroyed"),
    ("expunge", "Expunged", "Error"),
]


def _inject(faults: FaultInjector, how: str, name: str, when: Any) -> None:
    if how == "error":
        faults.fail[name] = when
    else:
        FaultInjector.bug_before[name] = when


@pytest.mark.parametrize("how", ["error", "bug"])
async def test_every_workflow_type_settles_its_resource_on_an_unhandled_failure(
    faulty_platform: Platform,
    api: httpx.AsyncClient,
    db: Database,
    faults: FaultInjector,
    how: str,
) -> None:
    fab = await vm_zone(api, hosts=2)
    other = await ok(
        await api.post(
            "/service-offerings",
            json={"name": unique("big"), "cpu_count": 2, "cpu_speed_mhz": 1000, "memory_mb": 512},
        ),
        201,
    )
    errors: list[str] = []
    for verb, target, expected in CASES:
        # Bring a VM to the state the verb starts from, with no fault in place.
        faults.clear()
        if verb == "deploy":
            vm_id = None
        else:
            vm_id = await running_vm(api, fab)
            if verb in ("start", "scale"):
                await act(api, vm_id, "stop")
            if verb in ("recover", "expunge"):
                await act(api, vm_id, "destroy")
        _inject(faults, how, VM_FINISH.name, lambda arg, t=target: arg.target == t)

        if verb == "deploy":
            accepted = await deploy(api, fab)
            vm_id = accepted["resource"]["id"]
        else:
            assert vm_id is not None
            body = {"service_offering_id": other["id"]} if verb == "scale" else None
            accepted = await ok(await api.post(f"/vms/{vm_id}/{verb}", json=body), 202)
        op = await wait_operation(api, accepted["operation"]["id"])
        faults.clear()

        row = await _vm_row(db, vm_id)
        where = f"{verb} ({how})"
        assert op["state"] == "failed", (where, op)
        assert "injected" in op["error"]["message"], (where, op)
        assert row["current_operation_id"] is None, f"{where}: VM left locked"
        assert row["state"] == expected, (where, row["state"])
        assert "injected" in (row["last_error"] or ""), (where, row["last_error"])
        async with db.conn() as conn:
            failed = await conn.fetchval(
                """SELECT count(*) FROM events WHERE type = 'strato.vm.operation_failed'
                   AND resource_id = $1 AND operation_id = $2""",
                UUID(vm_id),
                UUID(op["id"]),
            )
        assert failed == 1, where
        if expected == "Error":
            errors.append(vm_id)

    # The settled VMs can be operated again: an Error VM is destroyed and expunged.
    for vm_id in errors[:2]:
        await act(api, vm_id, "destroy", {"expunge": True})
        assert (await _vm_row(db, vm_id))["state"] == "Expunged"


async def test_add_host_settles_the_host_in_error(
    faulty_platform: Platform, api: httpx.AsyncClient, faults: FaultInjector
) -> None:
    fab = await vm_zone(api, hosts=0, network=False)
    for how in ("error", "bug"):
        _inject(faults, how, HOST_CONNECTED.name, lambda arg: True)
        accepted = await ok(
            await api.post(
                "/hosts", json={"cluster_id": fab["cluster"]["id"], "name": unique("h")}
            ),
            202,
        )
        op = await wait_operation(api, accepted["operation"]["id"])
        faults.clear()
        assert op["state"] == "failed", op
        host = await ok(await api.get(f"/hosts/{accepted['resource']['id']}"))
        assert host["status"] == "Error", host
        assert "injected" in host["last_error"], host


async def test_a_cancelled_operation_releases_the_lock(
    platform: Platform,
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
) -> None:
    """An SRE cancels a reboot whose hypervisor call hangs: the VM stays Running, and
    its lock is released with the reason."""
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)
    hang = platform.fleet.faults
    hang.fail_ops, hang.hang_rate = frozenset({"reboot_vm"}), 1.0
    accepted = await ok(await api.post(f"/vms/{vm_id}/reboot"), 202)
    await asyncio.sleep(1.0)
    await temporal_client.get_workflow_handle(accepted["operation"]["workflow_id"]).cancel()
    op = await wait_operation(api, accepted["operation"]["id"])
    hang.fail_ops, hang.hang_rate = frozenset(), 0.0
    assert op["state"] in ("cancelled", "failed"), op
    row = await _vm_row(db, vm_id)
    assert row["current_operation_id"] is None
    assert row["state"] == "Running"
    assert "cancel" in row["last_error"].lower(), row["last_error"]
    await act(api, vm_id, "stop")  # the VM is free for the next operation


async def test_a_cancelled_deploy_tries_no_other_host(
    platform: Platform,
    api: httpx.AsyncClient,
    db: Database,
    temporal_client: Client,
) -> None:
    """A deploy whose boot step hangs is cancelled: the attempt is undone and no other host
    is tried (a cancellation is not the host's fault); the VM ends in Error, unlocked."""
    fab = await vm_zone(api, hosts=2)
    hang = platform.fleet.faults
    hang.fail_ops, hang.hang_rate = frozenset({"define_vm"}), 1.0
    try:
        accepted = await deploy(api, fab)
        handle = temporal_client.get_workflow_handle(accepted["operation"]["workflow_id"])
        await asyncio.sleep(1.5)
        await handle.cancel()
        op = await wait_operation(api, accepted["operation"]["id"])
    finally:
        hang.fail_ops, hang.hang_rate = frozenset(), 0.0
    assert op["state"] in ("cancelled", "failed"), op
    row = await _vm_row(db, accepted["resource"]["id"])
    assert row["state"] == "Error" and row["current_operation_id"] is None, row
    assert "cancel" in row["last_error"].lower(), row["last_error"]
    boots = [
        e
        async for e in handle.fetch_history_events()
        if e.activity_task_scheduled_event_attributes.activity_type.name
        == "compute.define_and_start_vm"
    ]
    assert len(boots) == 1, f"{len(boots)} hosts tried after the cancel"
    async with db.conn() as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM host_claims WHERE vm_id = $1", UUID(accepted["resource"]["id"])
        )
    assert claims == 0
