"""VMs: deploy and lifecycle verbs (each one workflow), list and detail.

No ``from __future__ import annotations``: the verb routes are closures whose
annotations FastAPI reads at runtime.
"""

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Header, Query, Response, status
from pydantic import BaseModel

from strato import operations
from strato.api.accept import Accepted, accept, respond
from strato.api.crud import list_response
from strato.api.deps import CallerDep, DbDep, SettingsDep, TemporalDep
from strato.api.schemas import compute as s
from strato.api.schemas.common import ListPage
from strato.domain.errors import InvalidInput, NotFound
from strato.domain.ids import Workflows, workflow_id
from strato.domain.models import ServiceOffering, Template, Vm
from strato.domain.payloads import (
    DeployVmInput,
    DestroyVmInput,
    ExpungeVmInput,
    ScaleVmInput,
    StopVmInput,
    VmRef,
)
from strato.domain.states import OfferingState, TemplateState, VmState
from strato.schema import repository, vms, volumes
from strato.schema.operations import OperationRecord
from strato.schema.tables import SERVICE_OFFERINGS, TEMPLATES, ZONES
from strato.schema.vms import VMS
from strato.settings import Settings

router = APIRouter(prefix="/vms", tags=["vms"])
IdemKey = Annotated[str | None, Header(max_length=255)]
GiB = 1 << 30


async def _ref(conn: Any, spec: Any, id: UUID, field: str) -> Any:
    try:
        return await repository.get(conn, spec, id)
    except NotFound as err:
        raise InvalidInput(f"{field}: {err.detail}", field=field) from err


def _attrs(vm: Any, verb: str) -> dict[str, str]:
    return {
        "StratoResourceType": "vm",
        "StratoResourceId": str(vm.id),
        "StratoOperation": verb,
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


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Deploy a VM (DeployVm workflow)",
)
async def deploy(
    body: s.VmDeploy,
    db: DbDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _: CallerDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Any:
    async def build(conn: Any) -> OperationRecord:
        await _ref(conn, ZONES, body.zone_id, "zone_id")
        off: ServiceOffering = await _ref(
            conn, SERVICE_OFFERINGS, body.service_offering_id, "service_offering_id"
        )
        tpl: Template = await _ref(conn, TEMPLATES, body.template_id, "template_id")
        if off.state != OfferingState.ACTIVE:
            raise InvalidInput(f"service_offering_id: offering {off.name} is {off.state}")
        if tpl.state != TemplateState.READY:
            raise InvalidInput(f"template_id: template {tpl.name} is {tpl.state}, not Ready")
        if tpl.zone_id is not None and tpl.zone_id != body.zone_id:
            raise InvalidInput(f"template_id: template {tpl.name} is not in that zone")
        vm_id, op_id, vol_id = uuid4(), uuid4(), uuid4()
        vm = await repository.insert(
            conn,
            VMS,
            {
                "id": vm_id,
                "name": body.name,
                "display_name": body.display_name or body.name,
                "zone_id": body.zone_id,
                "service_offering_id": off.id,
                "template_id": tpl.id,
                "owner": body.owner,
                "cpu_count": off.cpu_count,
                "cpu_speed_mhz": off.cpu_speed_mhz,
                "memory_mb": off.memory_mb,
                "state": VmState.ALLOCATED.value,
            },
            operation_id=op_id,
        )
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
                "size_bytes": size,
                "template_id": tpl.id,
                "owner": body.owner,
            },
            operation_id=op_id,
        )
        await vms.attach_root_and_groups(conn, vm_id, vol_id, body.affinity_group_ids)
        await vms.acquire(conn, vm_id, op_id, "deploy", frozenset({VmState.ALLOCATED}))
        return await operations.record(
            conn,
            id=op_id,
            kind="vm.deploy",
            resource_type="vm",
            resource_id=vm.id,
            workflow_id=workflow_id("vm", "deploy", vm.id, op_id),
            workflow_type=Workflows.DEPLOY_VM,
            input=boot_input(settings, vm.id, op_id, start=body.start),
            search_attributes=_attrs(vm, "deploy"),
            task_queue=settings.orchestration_queue,
            idempotency_key=idempotency_key,
            request_body=body.model_dump(mode="json"),
        )

    return await _accept(
        db, temporal, settings, response, idempotency_key, body.model_dump(mode="json"), build
    )


async def _accept(
    db: Any,
    temporal: Any,
    settings: Settings,
    response: Response,
    key: str | None,
    request_body: dict[str, Any],
    build: Any,
) -> Any:
    """``request_body`` is what an Idempotency-Key is bound to: hashed identically here
    and in the operation record."""
    record, created = await accept(
        db, temporal, idempotency_key=key, body=request_body, build=build
    )
    async with db.conn() as conn:
        vm = await repository.get(conn, VMS, record.resource_id) if record.resource_id else None
    response.headers["Location"] = f"/api/v1/operations/{record.id}"
    return await respond(temporal, settings, record, vm, created=created)


Build = Callable[[Settings, UUID, UUID, Any], BaseModel]


def _verb(
    verb: str,
    workflow: str,
    allowed: frozenset[VmState],
    make_input: Build,
    body_model: type[BaseModel] | None = None,
) -> None:
    """One route ``POST /vms/{id}/<verb>``: lock the VM, record the operation, start it."""

    async def run(
        id: UUID,
        db: Any,
        temporal: Any,
        settings: Settings,
        response: Response,
        body: BaseModel | None,
        key: str | None,
    ) -> Any:
        request_body = {
            "verb": verb,
            "vm": str(id),
            **(body.model_dump(mode="json") if body else {}),
        }

        async def build(conn: Any) -> OperationRecord:
            op_id = uuid4()
            vm = await vms.acquire(conn, id, op_id, verb, allowed)
            return await operations.record(
                conn,
                id=op_id,
                kind=f"vm.{verb}",
                resource_type="vm",
                resource_id=id,
                workflow_id=workflow_id("vm", verb, id, op_id),
                workflow_type=workflow,
                input=make_input(settings, id, op_id, body),
                search_attributes=_attrs(vm, verb),
                task_queue=settings.orchestration_queue,
                idempotency_key=key,
                request_body=request_body,
            )

        return await _accept(db, temporal, settings, response, key, request_body, build)

    if body_model is None:

        async def action(
            id: UUID,
            db: DbDep,
            temporal: TemporalDep,
            settings: SettingsDep,
            _: CallerDep,
            response: Response,
            idempotency_key: IdemKey = None,
        ) -> Any:
            return await run(id, db, temporal, settings, response, None, idempotency_key)

    else:
        Body_ = Annotated[body_model | None, Body()]  # type: ignore[valid-type]

        async def action(  # type: ignore[misc]
            id: UUID,
            db: DbDep,
            temporal: TemporalDep,
            settings: SettingsDep,
            _: CallerDep,
            response: Response,
            body: Body_ = None,
            idempotency_key: IdemKey = None,
        ) -> Any:
            return await run(id, db, temporal, settings, response, body, idempotency_key)

    router.add_api_route(
        f"/{{id}}/{verb}",
        action,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        summary=f"{verb.capitalize()} a VM ({workflow} workflow)",
        name=f"vm_{verb}",
    )


_R, _S = VmState.RUNNING, VmState.STOPPED
_verb(
    "start",
    Workflows.START_VM,
    frozenset({_S}),
    lambda st, id, op, b: boot_input(st, id, op),
)
_verb(
    "stop",
    Workflows.STOP_VM,
    frozenset({_R}),
    lambda st, id, op, b: StopVmInput(
        vm_id=id,
        operation_id=op,
        force=bool(b and b.force),
        timeout_s=(b.timeout_s if b and b.timeout_s else st.stop_timeout_s),
        release_capacity=st.release_capacity_on_stop,
    ),
    s.VmStop,
)
_verb(
    "reboot",
    Workflows.REBOOT_VM,
    frozenset({_R}),
    lambda st, id, op, b: VmRef(vm_id=id, operation_id=op),
)
_verb(
    "scale",
    Workflows.SCALE_VM,
    frozenset({_R, _S}),
    lambda st, id, op, b: ScaleVmInput(
        vm_id=id, operation_id=op, service_offering_id=b.service_offering_id
    ),
    s.VmScale,
)
_verb(
    "destroy",
    Workflows.DESTROY_VM,
    frozenset({_R, _S, VmState.ERROR}),
    lambda st, id, op, b: DestroyVmInput(
        vm_id=id, operation_id=op, expunge=bool(b and b.expunge), expunge_delay_s=st.expunge_delay_s
    ),
    s.VmDestroy,
)
_verb(
    "recover",
    Workflows.RECOVER_VM,
    frozenset({VmState.DESTROYED}),
    lambda st, id, op, b: VmRef(vm_id=id, operation_id=op),
)
_verb(
    "expunge",
    Workflows.EXPUNGE_VM,
    frozenset({VmState.DESTROYED}),
    lambda st, id, op, b: ExpungeVmInput(vm_id=id, operation_id=op, delay_s=0),
)


@router.get("", response_model=ListPage[Vm], summary="List VMs")
async def list_vms(db: DbDep, _: CallerDep, flt: Annotated[s.VmFilter, Query()]) -> Any:
    return await list_response(db, VMS, flt)


@router.get("/{id}", response_model=s.VmDetail, summary="A VM with its host, NICs, volumes")
async def get_vm(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await vms.detail(conn, id)
