"""The command layer: one place accepts operations for every front door, behind the
Authorizer hook."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from strato.commands import compute
from strato.commands.auth import Action, Caller
from strato.commands.context import CommandContext
from strato.domain.errors import Forbidden
from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import table_counts, wait_operation
from tests.workflows.vm_helpers import running_vm, vm_zone


class NoReboots:
    """An authorizer as the ACL service would install: it sees every action."""

    def __init__(self) -> None:
        self.seen: list[Action] = []

    async def authorize(self, caller: Caller, action: Action) -> None:
        self.seen.append(action)
        if action.name == "vm.reboot":
            raise Forbidden(f"{caller.name} may not reboot VM {action.resource_id}")


async def test_the_installed_authorizer_decides_and_a_refusal_changes_nothing(
    platform: Platform, api: httpx.AsyncClient, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1)
    vm_id = await running_vm(api, fab)

    app = api._transport.app  # type: ignore[attr-defined]
    authorizer = NoReboots()
    app.state.authorizer = authorizer
    try:
        before = await table_counts(db)
        r = await api.post(f"/vms/{vm_id}/reboot")
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "may not reboot" in r.json()["detail"]
        assert await table_counts(db) == before
        r = await api.post(f"/vms/{vm_id}/stop")
        assert r.status_code == 202, r.text
    finally:
        app.state.authorizer = None
    # The route's operation is asked first (a refusal there ends the request), then
    # the command's own.
    assert [(a.name, a.resource_id) for a in authorizer.seen] == [
        ("vm.reboot", UUID(vm_id)),
        ("vm.stop", UUID(vm_id)),
        ("vm.stop", UUID(vm_id)),
    ]


async def test_a_front_door_without_http_runs_the_same_command(
    platform: Platform, api: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    """What a second front door (the CloudStack API, a service) does: build a context
    with its caller, call the command, show the operation."""
    fab = await vm_zone(api, hosts=1)
    ctx = CommandContext(
        db=db,
        temporal=platform.client,
        settings=settings,
        caller=Caller(name="cloudstack-api", scope="admin"),
    )
    body = compute.VmDeploy(
        name="from-another-door",
        zone_id=fab["zone"]["id"],
        service_offering_id=fab["offering"]["id"],
        template_id=fab["template"]["id"],
    )
    accepted = await compute.deploy_vm(ctx, body, "door-key-1")
    again = await compute.deploy_vm(ctx, body, "door-key-1")
    assert again.operation.id == accepted.operation.id  # the Idempotency-Key holds
    op = await wait_operation(api, str(accepted.operation.id))
    assert op["state"] == "succeeded", op
    vm = (await api.get(f"/vms/{accepted.operation.resource_id}")).json()
    assert vm["state"] == "Running" and vm["name"] == "from-another-door"

    reader = CommandContext(
        db=db, temporal=platform.client, settings=settings, caller=Caller("ro", "read")
    )
    with pytest.raises(Forbidden, match="needs 'admin'"):
        await compute.act_on_vm(reader, UUID(vm["id"]), "reboot", None, None)
