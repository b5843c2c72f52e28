"""Volumes: create (a record), list and detail; attach, detach, resize, destroy, recover
and expunge (each one operation, accepted by :mod:`strato.commands.storage`).

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status

from strato.api.accepted import ACCEPTED, located
from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import ListPage
from strato.api.schemas.storage import volumes as s
from strato.commands import storage as commands
from strato.commands import volume_migration as migration
from strato.commands.view import Accepted
from strato.domain.storage.models import Volume
from strato.schema import repository
from strato.schema.storage.volumes import VOLUMES

router = APIRouter(prefix="/volumes", tags=["volumes"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Volume,
    summary="Create a data volume (Allocated until its first attach)",
)
async def create(body: s.VolumeCreate, ctx: CommandsDep, response: Response) -> Any:
    vol = await commands.create_volume(ctx, body)
    response.headers["Location"] = f"/api/v1/volumes/{vol.id}"
    response.headers["ETag"] = f'"{vol.version}"'
    return vol


@router.get("", response_model=ListPage[Volume], summary="List volumes")
async def list_volumes(db: DbDep, _: CallerDep, flt: Annotated[s.VolumeFilter, Query()]) -> Any:
    return await list_response(db, VOLUMES, flt)


@router.get("/{id}", response_model=Volume, summary="Get a volume")
async def get_volume(id: UUID, db: DbDep, _: CallerDep, response: Response) -> Any:
    async with db.conn() as conn:
        vol = await repository.get(conn, VOLUMES, id)
    response.headers["ETag"] = f'"{vol.version}"'
    return vol


@router.post("/{id}/attach", summary="Attach a data volume to a VM (AttachVolume)", **ACCEPTED)
async def attach(
    id: UUID,
    body: s.VolumeAttach,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.attach_volume(ctx, id, body, idempotency_key))


@router.post("/{id}/detach", summary="Detach a data volume (DetachVolume)", **ACCEPTED)
async def detach(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.detach_volume(ctx, id, idempotency_key))


@router.post("/{id}/resize", summary="Resize a volume (ResizeVolume)", **ACCEPTED)
async def resize(
    id: UUID,
    body: s.VolumeResize,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.resize_volume(ctx, id, body, idempotency_key))


@router.post(
    "/{id}/migrate",
    summary="Move a volume to another pool of its zone, its VM stopped (MigrateVolume)",
    **ACCEPTED,
)
async def migrate(
    id: UUID,
    body: s.VolumeMigrate,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await migration.migrate_volume(ctx, id, body, idempotency_key))


@router.post("/{id}/destroy", summary="Destroy a data volume (DestroyVolume)", **ACCEPTED)
async def destroy(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    body: Annotated[s.VolumeDestroy | None, Body()] = None,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.destroy_volume(ctx, id, body, idempotency_key))


@router.delete("/{id}", summary="Destroy a data volume (as POST .../destroy)", **ACCEPTED)
async def delete(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.destroy_volume(ctx, id, None, idempotency_key))


@router.post("/{id}/recover", summary="Recover a destroyed volume (RecoverVolume)", **ACCEPTED)
async def recover(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.recover_volume(ctx, id, idempotency_key))


@router.post("/{id}/expunge", summary="Expunge a destroyed volume now (ExpungeVolume)", **ACCEPTED)
async def expunge(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.expunge_volume(ctx, id, idempotency_key))
