"""VM snapshots: take one of a VM (its disks, and its memory if asked), list, get, revert
the VM to one, delete one. Each operation is ``202`` + operation.

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response

from strato.api.accepted import ACCEPTED, located
from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import Filter, ListPage, Name
from strato.commands import vm_snapshots as commands
from strato.commands.view import Accepted
from strato.domain.compute.models import VmSnapshot
from strato.domain.states import VmSnapshotState
from strato.schema import repository
from strato.schema.compute.vm_snapshots import VM_SNAPSHOTS

router = APIRouter(tags=["vm snapshots"])


class VmSnapshotFilter(Filter):
    vm_id: UUID | None = None
    name: Name | None = None
    state: VmSnapshotState | None = None


@router.post(
    "/vms/{id}/vm-snapshots",
    summary="Snapshot a VM's disks, and its memory if asked (CreateVmSnapshot)",
    **ACCEPTED,
)
async def create(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    body: Annotated[commands.VmSnapshotCreate | None, Body()] = None,
    idempotency_key: IdemKey = None,
) -> Accepted:
    made = await commands.create(ctx, id, body or commands.VmSnapshotCreate(), idempotency_key)
    return located(response, made)


@router.get("/vm-snapshots", response_model=ListPage[VmSnapshot], summary="List VM snapshots")
async def list_all(db: DbDep, _: CallerDep, flt: Annotated[VmSnapshotFilter, Query()]) -> Any:
    return await list_response(db, VM_SNAPSHOTS, flt)


@router.get("/vm-snapshots/{id}", response_model=VmSnapshot, summary="Get a VM snapshot")
async def get(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, VM_SNAPSHOTS, id)


@router.post(
    "/vm-snapshots/{id}/revert",
    summary="Put the VM back at the snapshot (RevertToVmSnapshot)",
    **ACCEPTED,
)
async def revert(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.revert(ctx, id, idempotency_key))


@router.delete("/vm-snapshots/{id}", summary="Delete a VM snapshot (DeleteVmSnapshot)", **ACCEPTED)
async def delete(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.delete(ctx, id, idempotency_key))
