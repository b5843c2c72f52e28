"""ISOs in VMs' CD-ROM drives (CloudStack's attachIso / detachIso): each one operation on
the VM (AttachIso, DetachIso), the VM Running or Stopped.

Refused here, with nothing changed: a template that is not an ISO, an ISO not Ready in
the VM's zone, a VM that has an ISO already (detach it first) or none to detach, a VM
whose root volume has no file yet (start it once).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.commands.auth import Action
from strato.commands.compute import search_attributes
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute import flows
from strato.domain.compute.models import Template
from strato.domain.compute.payloads import IsoInput
from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.fields import Request
from strato.domain.states import TemplateState, VmState
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.compute.vms import VMS
from strato.schema.operations import OperationRecord
from strato.schema.storage import templates
from strato.schema.tables import TEMPLATES

_AT_REST = frozenset({VmState.RUNNING, VmState.STOPPED})


class VmAttachIso(Request):
    iso_id: UUID


async def attach_iso(
    ctx: CommandContext, vm_id: UUID, body: VmAttachIso, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("vm.attach-iso", "vm", vm_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        # Shared: a delete of the ISO (which locks it) waits, then finds it in use.
        await templates.share_lock(conn, body.iso_id)
        try:
            iso: Template = await repository.get(conn, TEMPLATES, body.iso_id)
        except NotFound as err:
            raise InvalidInput(f"iso_id: {err.detail}", field="iso_id") from err
        vm = await vms.acquire(conn, vm_id, op, "attach-iso", _AT_REST)
        if iso.format != "iso":
            raise InvalidInput(f"iso_id: {iso.name} is a {iso.format} image, not an ISO")
        if iso.state != TemplateState.READY or not iso.stored:
            raise InvalidInput(f"iso_id: ISO {iso.name} is {iso.state}, not Ready")
        if await templates.ready_copy(conn, iso.id, vm.zone_id) is None:
            raise InvalidInput(
                f"iso_id: ISO {iso.name} is not in the VM's zone (copy it there first)"
            )
        if vm.iso_id is not None:
            raise Conflict(f"VM {vm.name} has an ISO attached already: detach it first")
        context = await vms.context(conn, vm_id)
        if context.root_pool_id is None or not context.root_ready:
            raise Conflict(f"VM {vm.name}'s root volume is not on a pool yet: start it once")
        # In use from now on: a delete of the ISO waits for the share lock, then finds it.
        await vms.reserve_iso(conn, vm.id, iso.id)
        return await _record(conn, intake, op, vm, "attach-iso", flows.ATTACH_ISO.name, iso.id)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"attach-iso": str(vm_id), **body.model_dump(mode="json")},
        build=build,
        resource=VMS,
    )


async def detach_iso(ctx: CommandContext, vm_id: UUID, idempotency_key: str | None) -> Accepted:
    await ctx.authorize(Action("vm.detach-iso", "vm", vm_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        vm = await vms.acquire(conn, vm_id, op, "detach-iso", _AT_REST)
        if vm.iso_id is None:
            raise Conflict(f"VM {vm.name} has no ISO attached")
        return await _record(conn, intake, op, vm, "detach-iso", flows.DETACH_ISO.name, None)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"detach-iso": str(vm_id)},
        build=build,
        resource=VMS,
    )


async def _record(
    conn: Any, intake: Intake, op: UUID, vm: Any, verb: str, flow: str, iso_id: UUID | None
) -> OperationRecord:
    return await intake.record(
        conn,
        operation_id=op,
        resource_type="vm",
        resource_id=vm.id,
        verb=verb,
        workflow_type=flow,
        input=IsoInput(vm_id=vm.id, operation_id=op, iso_id=iso_id),
        attributes=search_attributes(vm),
    )
