"""VM commands: deploy, and the lifecycle verbs (each one operation, one workflow run).

A command validates its request against the inventory, asks the authorizer, writes the
intent, takes the VM's operation lock and records the operation in one transaction, then
starts the workflow. Every front door calls these; none writes an operation itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BaseModel, Field, StringConstraints, field_validator

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute import flows
from strato.domain.compute.migration import MIGRATE_VM, MigrateVmInput
from strato.domain.compute.models import ServiceOffering, Template, Vm
from strato.domain.compute.payloads import (
    DeployVmInput,
    DestroyVmInput,
    ExpungeVmInput,
    ScaleVmInput,
    StopVmInput,
    VmRef,
)
from strato.domain.errors import InvalidInput, NotFound
from strato.domain.fields import Name, Request, Text
from strato.domain.states import OfferingState, TemplateState, VmState
from strato.schema import repository
from strato.schema.compute import ssh_keys, vms
from strato.schema.compute.vms import VMS
from strato.schema.network import ipam, security_groups
from strato.schema.operations import OperationRecord
from strato.schema.storage import templates, volumes
from strato.schema.tables import SERVICE_OFFERINGS, TEMPLATES, ZONES
from strato.settings import Settings

GiB = 1 << 30


SshKey = Annotated[
    str,
    StringConstraints(
        max_length=8192,
        pattern=r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$",
    ),
]


class VmDeploy(Request):
    name: Name
    display_name: Text = ""
    zone_id: UUID
    service_offering_id: UUID
    template_id: UUID
    owner: Text = ""
    affinity_group_ids: list[UUID] = Field(default_factory=list, max_length=16)
    root_disk_size_gb: int | None = Field(default=None, gt=0, le=64 * 1024)
    start: bool = True
    # Its NICs, one per network in order (the first the default); none: one on the
    # zone's default network.
    network_ids: list[UUID] = Field(default_factory=list, max_length=8)
    # On a network with security groups: its groups (none: the owner's default group).
    security_group_ids: list[UUID] = Field(default_factory=list, max_length=16)
    # What its network's metadata service tells its guest: user data (base64, at most
    # 32 KiB decoded) and SSH public keys.
    user_data: str | None = Field(default=None, max_length=43692)
    ssh_public_keys: list[SshKey] = Field(default_factory=list, max_length=8)
    # SSH key pairs (of the VM's owner) whose public keys are added to those.
    ssh_key_pair_ids: list[UUID] = Field(default_factory=list, max_length=8)

    _user_data = field_validator("user_data")(classmethod(lambda cls, v: user_data(v)))


def user_data(value: str | None) -> str | None:
    """User data as the metadata service serves it: base64, at most 32 KiB decoded."""
    if value is None:
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError as err:
        raise ValueError(f"user_data is not base64 ({err})") from err
    if len(decoded) > 32 * 1024:
        raise ValueError(f"user_data is {len(decoded)} bytes decoded; at most 32768")
    return value


class VmStop(Request):
    force: bool = False
    timeout_s: float | None = Field(default=None, gt=0, le=3600)


class VmScale(Request):
    service_offering_id: UUID


class VmDestroy(Request):
    expunge: bool = False


class VmMigrate(Request):
    """Where to (a host of its cluster; none: the one with the most free memory), and
    how (live when both hosts can, unless ``live`` is false; true: live or refused)."""

    host_id: UUID | None = None
    live: bool | None = None


def search_attributes(vm: Any) -> dict[str, str]:
    """Where a VM is, besides what it is: found by zone, host and owner in the UI."""
    return {
        "StratoZone": str(vm.zone_id),
        "StratoHost": str(vm.host_id or ""),
        "StratoOwner": vm.owner,
    }


def boot_input(
    settings: Settings, vm_id: UUID, op_id: UUID, *, start: bool = True
) -> DeployVmInput:
    """DeployVm's and StartVm's input: the settings that bound a boot's host steps."""
    return DeployVmInput(
        vm_id=vm_id,
        operation_id=op_id,
        start=start,
        max_hosts=settings.deploy_max_hosts,
        host_reach_s=settings.host_reach_s,
        host_step_s=settings.host_step_timeout_s,
    )


async def _ref(conn: Any, spec: Any, id: UUID, field: str) -> Any:
    try:
        return await repository.get(conn, spec, id)
    except NotFound as err:
        raise InvalidInput(f"{field}: {err.detail}", field=field) from err


async def _deployable(conn: Any, tpl: Template, body: VmDeploy) -> None:
    """The template is Ready in the VM's zone, and fits its root disk."""
    if tpl.state != TemplateState.READY:
        raise InvalidInput(f"template_id: template {tpl.name} is {tpl.state}, not Ready")
    if tpl.format == "iso":
        raise InvalidInput(f"template_id: {tpl.name} is an ISO, not a disk image")
    if tpl.stored:
        if await templates.ready_copy(conn, tpl.id, body.zone_id) is None:
            raise InvalidInput(
                f"template_id: template {tpl.name} is not in that zone (copy it there first)"
            )
        asked = (body.root_disk_size_gb or 0) * GiB
        if asked and asked < tpl.size_bytes:
            raise InvalidInput(
                f"root_disk_size_gb: template {tpl.name} is a {tpl.size_bytes}-byte disk; "
                "the root disk cannot be smaller",
                field="root_disk_size_gb",
            )
    elif tpl.zone_id is not None and tpl.zone_id != body.zone_id:
        raise InvalidInput(f"template_id: template {tpl.name} is not in that zone")


def vm_row(
    vm_id: UUID,
    name: str,
    display_name: str,
    zone_id: UUID,
    off: ServiceOffering,
    template_id: UUID,
    owner: str,
) -> dict[str, Any]:
    """A new VM's row (Allocated), sized by its offering."""
    return {
        "id": vm_id,
        "name": name,
        "display_name": display_name or name,
        "zone_id": zone_id,
        "service_offering_id": off.id,
        "template_id": template_id,
        "owner": owner,
        "cpu_count": off.cpu_count,
        "cpu_speed_mhz": off.cpu_speed_mhz,
        "memory_mb": off.memory_mb,
        "state": VmState.ALLOCATED.value,
    }


async def check_deploy(conn: Any, body: VmDeploy) -> tuple[ServiceOffering, Template]:
    """What a deploy checks before it writes: the zone, an active offering, a template
    Ready in the zone that fits the root disk (each refusal names its field)."""
    await _ref(conn, ZONES, body.zone_id, "zone_id")
    off: ServiceOffering = await _ref(
        conn, SERVICE_OFFERINGS, body.service_offering_id, "service_offering_id"
    )
    tpl: Template = await _ref(conn, TEMPLATES, body.template_id, "template_id")
    if off.state != OfferingState.ACTIVE:
        raise InvalidInput(f"service_offering_id: offering {off.name} is {off.state}")
    await _deployable(conn, tpl, body)
    return off, tpl


async def take_vm(ctx: CommandContext, conn: Any, vm: Vm, root_bytes: int) -> None:
    """Count a new VM and its root volume against its owner's limits."""
    await ctx.take(conn, vm.owner, "vm")
    await ctx.take(conn, vm.owner, "cpu", vm.cpu_count)
    await ctx.take(conn, vm.owner, "memory", vm.memory_mb)
    await ctx.take(conn, vm.owner, "volume")
    await ctx.take(conn, vm.owner, "primary_storage", root_bytes)


async def deploy_vm(ctx: CommandContext, body: VmDeploy, idempotency_key: str | None) -> Accepted:
    """DeployVm: a VM row (Allocated) and its root volume, locked for the deploy."""
    await ctx.authorize(Action("vm.deploy", "vm"))
    body = ctx.owned_by_caller(body)

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        # Shared: a delete of the template (which locks it) waits for this deploy's VM.
        await templates.share_lock(conn, body.template_id)
        off, tpl = await check_deploy(conn, body)
        vm_id, op_id, vol_id = uuid4(), uuid4(), uuid4()
        row = vm_row(vm_id, body.name, body.display_name, body.zone_id, off, tpl.id, body.owner)
        keys = [
            *body.ssh_public_keys,
            *await ssh_keys.public_keys(conn, body.ssh_key_pair_ids, body.owner),
        ]
        row |= {"user_data": body.user_data, "ssh_keys": list(dict.fromkeys(keys))}
        vm = await repository.insert(conn, VMS, row, operation_id=op_id)
        size = (body.root_disk_size_gb or 0) * GiB or tpl.size_bytes or 8 * GiB
        await repository.insert(
            conn,
            volumes.VOLUMES,
            {
                "id": vol_id,
                "name": volumes.storage_name(vol_id),
                "zone_id": body.zone_id,
                "vm_id": vm_id,
                "kind": "ROOT",
                "device_id": 0,
                "size_bytes": size,
                "template_id": tpl.id,
                "owner": body.owner,
            },
            operation_id=op_id,
        )
        await vms.attach_root_and_groups(conn, vm_id, vol_id, body.affinity_group_ids, body.owner)
        await take_vm(ctx, conn, vm, size)
        if body.network_ids:
            tenant = ctx.caller.owners is not None
            await ipam.allocate_nics(conn, vm_id, body.network_ids, body.owner, tenant=tenant)
        if body.security_group_ids or await security_groups.on_secured_network(conn, vm_id):
            await security_groups.join(conn, vm_id, body.owner, body.security_group_ids)
        await vms.acquire(conn, vm_id, op_id, "deploy", frozenset({VmState.ALLOCATED}))
        return await intake.record(
            conn,
            operation_id=op_id,
            resource_type="vm",
            resource_id=vm.id,
            verb="deploy",
            workflow_type=flows.DEPLOY_VM.name,
            input=boot_input(ctx.settings, vm.id, op_id, start=body.start),
            attributes=search_attributes(vm),
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body=body.model_dump(mode="json"),
        build=build,
        resource=VMS,
    )


MakeInput = Callable[[Settings, UUID, UUID, Any], BaseModel]


@dataclass(frozen=True)
class VmVerb:
    """One lifecycle verb: its workflow, the states it starts from, its input."""

    workflow: str
    allowed: frozenset[VmState]
    make_input: MakeInput
    body: type[Request] | None = None
    body_required: bool = False  # the verb means nothing without its body (scale)


_R, _S = VmState.RUNNING, VmState.STOPPED
VM_VERBS: dict[str, VmVerb] = {
    "start": VmVerb(
        flows.START_VM.name, frozenset({_S}), lambda st, id, op, b: boot_input(st, id, op)
    ),
    "stop": VmVerb(
        flows.STOP_VM.name,
        frozenset({_R}),
        lambda st, id, op, b: StopVmInput(
            vm_id=id,
            operation_id=op,
            force=bool(b and b.force),
            timeout_s=(b.timeout_s if b and b.timeout_s else st.stop_timeout_s),
            release_capacity=st.release_capacity_on_stop,
        ),
        VmStop,
    ),
    "reboot": VmVerb(
        flows.REBOOT_VM.name,
        frozenset({_R}),
        lambda st, id, op, b: VmRef(vm_id=id, operation_id=op),
    ),
    "scale": VmVerb(
        flows.SCALE_VM.name,
        frozenset({_R, _S}),
        lambda st, id, op, b: ScaleVmInput(
            vm_id=id, operation_id=op, service_offering_id=b.service_offering_id
        ),
        VmScale,
        body_required=True,
    ),
    "destroy": VmVerb(
        flows.DESTROY_VM.name,
        frozenset({_R, _S, VmState.ERROR}),
        lambda st, id, op, b: DestroyVmInput(
            vm_id=id,
            operation_id=op,
            expunge=bool(b and b.expunge),
            expunge_delay_s=st.expunge_delay_s,
        ),
        VmDestroy,
    ),
    "migrate": VmVerb(
        MIGRATE_VM.name,
        frozenset({_R}),
        lambda st, id, op, b: MigrateVmInput(
            vm_id=id,
            operation_id=op,
            host_id=b.host_id if b else None,
            live=b.live if b else None,
            host_reach_s=st.host_reach_s,
        ),
        VmMigrate,
    ),
    "recover": VmVerb(
        flows.RECOVER_VM.name,
        frozenset({VmState.DESTROYED}),
        lambda st, id, op, b: VmRef(vm_id=id, operation_id=op),
    ),
    "expunge": VmVerb(
        flows.EXPUNGE_VM.name,
        frozenset({VmState.DESTROYED}),
        lambda st, id, op, b: ExpungeVmInput(vm_id=id, operation_id=op, delay_s=0),
    ),
}


async def _take_for(ctx: CommandContext, conn: Any, vm: Vm, verb: str, body: Any) -> None:
    """What a verb adds to the owner's holdings, its workflow yet to write it: a
    recovered VM counts again; a bigger offering counts its extra vCPUs and memory."""
    if verb == "recover":
        await ctx.take(conn, vm.owner, "vm", pending=True)
        await ctx.take(conn, vm.owner, "cpu", vm.cpu_count, pending=True)
        await ctx.take(conn, vm.owner, "memory", vm.memory_mb, pending=True)
    elif verb == "scale":
        off = await _offering_or_none(conn, body.service_offering_id)
        if off is not None and off.cpu_count > vm.cpu_count:
            await ctx.take(conn, vm.owner, "cpu", off.cpu_count - vm.cpu_count, pending=True)
        if off is not None and off.memory_mb > vm.memory_mb:
            await ctx.take(conn, vm.owner, "memory", off.memory_mb - vm.memory_mb, pending=True)


async def _offering_or_none(conn: Any, offering_id: UUID) -> ServiceOffering | None:
    try:
        off: ServiceOffering = await repository.get(conn, SERVICE_OFFERINGS, offering_id)
    except NotFound:
        return None  # the scale's workflow says what is wrong with it
    return off


async def act_on_vm(
    ctx: CommandContext,
    vm_id: UUID,
    verb: str,
    body: BaseModel | None,
    idempotency_key: str | None,
) -> Accepted:
    """A lifecycle verb: lock the VM (409 if busy or in the wrong state), record the
    operation, start its own run."""
    spec = VM_VERBS.get(verb)
    if spec is None:
        raise InvalidInput(f"unknown VM action {verb!r} (one of: {', '.join(VM_VERBS)})")
    if spec.body is not None and body is not None and not isinstance(body, spec.body):
        raise InvalidInput(f"{verb} takes a {spec.body.__name__} body")
    if spec.body_required and body is None:
        assert spec.body is not None
        fields = ", ".join(spec.body.model_fields)
        raise InvalidInput(f"{verb} needs a body ({fields})", field="body")
    await ctx.authorize(Action(f"vm.{verb}", "vm", vm_id))
    request_body = {
        "verb": verb,
        "vm": str(vm_id),
        **(body.model_dump(mode="json") if body else {}),
    }

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op_id = uuid4()
        vm = await vms.acquire(conn, vm_id, op_id, verb, spec.allowed)
        await _take_for(ctx, conn, vm, verb, body)
        return await intake.record(
            conn,
            operation_id=op_id,
            resource_type="vm",
            resource_id=vm_id,
            verb=verb,
            workflow_type=spec.workflow,
            input=spec.make_input(ctx.settings, vm_id, op_id, body),
            attributes=search_attributes(vm),
        )

    return await ctx.run(
        idempotency_key=idempotency_key, request_body=request_body, build=build, resource=VMS
    )
