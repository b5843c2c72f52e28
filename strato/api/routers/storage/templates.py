"""Templates (register, list, detail, update, copy to a zone, delete) and image stores
(secondary storage, CRUD).

Registering from a host path answers 201 (the template is Ready); from an http(s) URL, or
an upload (the image as the body of ``POST /templates/upload``), 202 with the operation
(the template is Downloading until the template service has fetched or read back the
image and checked it). Deleting a host-path template answers 204; a stored one,
202 with the operation removing its copies.

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from strato.api.crud import crud_router
from strato.api.deps import CommandsDep, IdemKey, SettingsDep
from strato.api.schemas.compute import catalog as s
from strato.api.schemas.storage import templates as ts
from strato.commands import template_upload as uploads
from strato.commands import templates as commands
from strato.commands.view import Accepted
from strato.domain import paths
from strato.domain.compute.models import Template
from strato.domain.errors import InvalidInput
from strato.schema.storage.templates import IMAGE_STORES
from strato.schema.tables import TEMPLATES
from strato.settings import Settings

router = APIRouter()


def _template_paths(body: s.TemplateCreate, settings: Settings) -> None:
    """The image, kernel and initrd a template names, if they are host paths, must lie
    under the image roots and outside the pool directories (another VM's disk)."""
    host_paths([("url", paths.local_path(body.url))], body.boot, settings)


def host_paths(
    named: list[tuple[str, str | None]], boot: s.TemplateBoot, settings: Settings
) -> None:
    """Each path named (and the boot's kernel and initrd) under the image roots, outside
    the pool directories; 422 naming the field otherwise."""
    named = [*named, ("boot.kernel", boot.kernel), ("boot.initrd", boot.initrd)]
    for field, path in named:
        if path is None:
            continue
        what = field.replace("boot.", "")
        try:
            paths.within(path, settings.image_root_list, what, "STRATO_IMAGE_ROOTS")
            holder = paths.inside_any(path, settings.pool_root_list)
            if holder is not None:
                raise paths.PathRefused(f"{what} {path} is inside the pool directories ({holder})")
        except paths.PathRefused as err:
            raise InvalidInput(f"{field}: {err}", field=field) from err


def _store_path(body: ts.ImageStoreCreate, settings: Settings) -> None:
    """A directory store lies under the image roots (the pools copy templates from it)."""
    path = paths.local_path(body.url) if body.driver == "directory" else None
    if path is None:
        return
    try:
        paths.within(path, settings.image_root_list, "image store directory", "STRATO_IMAGE_ROOTS")
        holder = paths.inside_any(path, settings.pool_root_list)
        if holder is not None:
            raise paths.PathRefused(f"image store {path} is inside the pool directories ({holder})")
    except paths.PathRefused as err:
        raise InvalidInput(f"url: {err}", field="url") from err


@router.post(
    "/templates",
    status_code=status.HTTP_201_CREATED,
    response_model=Template | Accepted,
    tags=["templates"],
    summary="Register a template (from a host path: 201; from an http(s) URL: 202 + download)",
    responses={202: {"model": Accepted, "description": "the download operation"}},
)
async def register(
    body: s.TemplateCreate,
    ctx: CommandsDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Any:
    _template_paths(body, settings)
    done = await commands.register(ctx, body, idempotency_key)
    if isinstance(done, Accepted):
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = f"/api/v1/operations/{done.operation.id}"
        return done
    response.headers["Location"] = f"/api/v1/templates/{done.id}"
    response.headers["ETag"] = f'"{done.version}"'
    return done


@router.post(
    "/templates/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["templates"],
    summary="Upload a template or ISO: the request body is the image (202 + its checks)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def upload(
    request: Request,
    params: Annotated[uploads.TemplateUpload, Query()],
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    accepted = await uploads.upload(ctx, params, request.stream(), idempotency_key)
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


@router.post(
    "/templates/{id}/copies",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["templates"],
    summary="Copy a template to another zone's image store",
)
async def copy(
    id: UUID,
    body: s.TemplateCopy,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    accepted = await commands.copy(ctx, id, body, idempotency_key)
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


@router.delete(
    "/templates/{id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["templates"],
    summary="Delete a template (a stored one: 202 + the operation removing its copies)",
    responses={204: {"description": "a host-path template: deleted"}},
)
async def delete(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Any:
    accepted = await commands.delete(ctx, id, idempotency_key)
    if accepted is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


router.include_router(
    crud_router(
        TEMPLATES,
        path="/templates",
        filters=s.TemplateFilter,
        create=None,
        update=s.TemplateUpdate,
        delete=False,
    )
)
router.include_router(
    crud_router(
        IMAGE_STORES,
        path="/image-stores",
        filters=ts.ImageStoreFilter,
        create=ts.ImageStoreCreate,
        update=ts.ImageStoreUpdate,
        check=_store_path,
    )
)
