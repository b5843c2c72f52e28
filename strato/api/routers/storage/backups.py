"""Backup offerings (CRUD) and VM backups: assign a VM, back it up, list, restore a
volume or the whole VM (a new one), delete. Each backup operation is ``202`` + operation.

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import Field

from strato.api.accepted import ACCEPTED, located
from strato.api.crud import crud_router, list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import Filter, ListPage, Name, Request, Text
from strato.commands import backup_restore as restores
from strato.commands import backup_schedules as schedules
from strato.commands import backups as commands
from strato.commands.view import Accepted
from strato.domain.compute.models import Vm
from strato.domain.storage.models import Backup, BackupSchedule
from strato.schema import repository
from strato.schema.storage.backups import BACKUPS, OFFERINGS, SCHEDULES


class OfferingCreate(Request):
    name: Name
    description: Text = ""
    retention: int = Field(default=7, ge=1, le=1000)


class OfferingUpdate(Request):
    description: Text | None = None
    retention: int | None = Field(default=None, ge=1, le=1000)
    state: Literal["Active", "Inactive"] | None = None


class OfferingFilter(Filter):
    name: Name | None = None


class BackupFilter(Filter):
    vm_id: UUID | None = None
    state: Literal["BackingUp", "BackedUp", "Error", "Removing", "Removed"] | None = None


class ScheduleFilter(Filter):
    vm_id: UUID | None = None


router = APIRouter(tags=["backups"])
router.include_router(
    crud_router(
        OFFERINGS,
        path="/backup-offerings",
        filters=OfferingFilter,
        create=OfferingCreate,
        update=OfferingUpdate,
    )
)


@router.post("/vms/{id}/backup-offering", response_model=Vm, summary="Assign a backup offering")
async def assign(id: UUID, body: commands.BackupOfferingAssign, ctx: CommandsDep) -> Any:
    return await commands.assign_offering(ctx, id, body)


@router.post("/vms/{id}/backups", summary="Back a stopped VM up (CreateBackup)", **ACCEPTED)
async def create(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    body: Annotated[commands.BackupCreate | None, Body()] = None,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.create_backup(ctx, id, body, idempotency_key))


@router.post(
    "/vms/{id}/backup-schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=BackupSchedule,
    summary="Back a VM up on a schedule (a Temporal Schedule)",
)
async def create_schedule(
    id: UUID, body: schedules.BackupScheduleCreate, ctx: CommandsDep, response: Response
) -> Any:
    row = await schedules.create_schedule(ctx, id, body)
    response.headers["Location"] = f"/api/v1/backup-schedules/{row.id}"
    return row


@router.get(
    "/backup-schedules", response_model=ListPage[BackupSchedule], summary="List backup schedules"
)
async def list_schedules(db: DbDep, _: CallerDep, flt: Annotated[ScheduleFilter, Query()]) -> Any:
    return await list_response(db, SCHEDULES, flt)


@router.delete(
    "/backup-schedules/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a backup schedule (its backups stay)",
)
async def delete_schedule(id: UUID, ctx: CommandsDep) -> Response:
    await schedules.delete(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/backups", response_model=ListPage[Backup], summary="List backups")
async def list_backups(db: DbDep, _: CallerDep, flt: Annotated[BackupFilter, Query()]) -> Any:
    return await list_response(db, BACKUPS, flt)


@router.get("/backups/{id}", response_model=Backup, summary="Get a backup")
async def get_backup(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, BACKUPS, id)


@router.post(
    "/backups/{id}/volumes",
    summary="A new volume from one volume of a backup (RestoreBackupVolume)",
    **ACCEPTED,
)
async def restore(
    id: UUID,
    body: restores.BackupRestoreVolume,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await restores.restore_volume(ctx, id, body, idempotency_key))


@router.post(
    "/backups/{id}/vms",
    summary="A new VM from a backup, every volume restored (RestoreBackupVm)",
    **ACCEPTED,
)
async def restore_vm(
    id: UUID,
    body: restores.BackupRestoreVm,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await restores.restore_vm(ctx, id, body, idempotency_key))


@router.delete("/backups/{id}", summary="Delete a backup (DeleteBackup)", **ACCEPTED)
async def delete(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.delete_backup(ctx, id, idempotency_key))
