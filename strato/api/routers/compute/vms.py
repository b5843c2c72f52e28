"""VMs: deploy and lifecycle verbs (each one operation, accepted by
:mod:`strato.commands.compute`), list and detail.

No ``from __future__ import annotations``: the verb routes are closures whose
annotations FastAPI reads at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status

from strato.api.accepted import located
from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import ListPage
from strato.api.schemas.compute import vms as s
from strato.commands import compute as commands
from strato.commands import vm_iso as iso
from strato.commands import vm_update as update
from strato.commands.view import Accepted
from strato.commands.vm_update import VmUpdate
from strato.domain.compute.models import Vm
from strato.schema import repository
from strato.schema.compute import vms
from strato.schema.compute.vms import VMS

router = APIRouter(prefix="/vms", tags=["vms"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Deploy a VM (DeployVm workflow)",
)
async def deploy(
    body: s.VmDeploy, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.deploy_vm(ctx, body, idempotency_key))


def _verb(verb: str, spec: commands.VmVerb) -> None:
    """One route ``POST /vms/{id}/<verb>``."""
    if spec.body is None:

        async def action(
            id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
        ) -> Accepted:
            return located(response, await commands.act_on_vm(ctx, id, verb, None, idempotency_key))

    else:
        # Scale's body is required (a 422 without it); stop's and destroy's are optional.
        kind = spec.body if spec.body_required else spec.body | None
        Body_ = Annotated[kind, Body()]  # type: ignore[valid-type]
        absent: Any = ... if spec.body_required else None

        async def action(  # type: ignore[misc]
            id: UUID,
            ctx: CommandsDep,
            response: Response,
            body: Body_ = absent,
            idempotency_key: IdemKey = None,
        ) -> Accepted:
            return located(response, await commands.act_on_vm(ctx, id, verb, body, idempotency_key))

    router.add_api_route(
        f"/{{id}}/{verb}",
        action,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        summary=f"{verb.capitalize()} a VM ({spec.workflow} workflow)",
        name=f"vm_{verb}",
    )


for _name, _spec in commands.VM_VERBS.items():
    _verb(_name, _spec)


@router.post(
    "/{id}/attach-iso",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Put an ISO in a VM's CD-ROM drive (AttachIso workflow)",
)
async def attach_iso(
    id: UUID,
    body: iso.VmAttachIso,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await iso.attach_iso(ctx, id, body, idempotency_key))


@router.post(
    "/{id}/detach-iso",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Empty a VM's CD-ROM drive (DetachIso workflow)",
)
async def detach_iso(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await iso.detach_iso(ctx, id, idempotency_key))


@router.get("", response_model=ListPage[Vm], summary="List VMs")
async def list_vms(db: DbDep, _: CallerDep, flt: Annotated[s.VmFilter, Query()]) -> Any:
    return await list_response(db, VMS, flt)


@router.patch("/{id}", response_model=Vm, summary="Change a VM's display name, user data, keys")
async def update_vm(id: UUID, body: VmUpdate, ctx: CommandsDep) -> Any:
    return await update.update_vm(ctx, id, body)


@router.get("/{id}", response_model=s.VmDetail, summary="A VM with its host, NICs, volumes")
async def get_vm(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        await repository.get(conn, VMS, id)  # another owner's VM: a 404
        return await vms.detail(conn, id)
