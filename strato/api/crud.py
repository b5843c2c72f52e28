"""One router factory for the resources that share list/get/create/update/delete.

No ``from __future__ import annotations`` here: FastAPI reads these closures' annotations
at runtime, and they name per-resource classes passed in as arguments.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel

from strato.api.deps import CallerDep, DbDep, SettingsDep
from strato.api.schemas.common import Filter, ListPage
from strato.domain.errors import InvalidInput
from strato.domain.fields import ascii_number
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.repository import TableSpec
from strato.settings import Settings

Prepare = Callable[[Any, Any], Awaitable[dict[str, Any]]]
# A check of a create body against this deployment's settings, before any database work.
Check = Callable[[Any, Settings], None]


async def _as_is(conn: Any, body: BaseModel) -> dict[str, Any]:
    return body.model_dump()


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "3"`` (an ETag we sent) -> 3."""
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    version = ascii_number(raw, max_value=2**31 - 1)
    if version is None:
        raise InvalidInput(
            'If-Match must be an ETag this API returned, such as "3"', field="If-Match"
        )
    return version


async def list_response(db: Database, spec: TableSpec[Any], flt: Filter) -> dict[str, Any]:
    """One page of ``spec`` for a Filter query (paging fields plus column filters)."""
    params = flt.model_dump(exclude_none=True)
    cursor, limit = params.pop("cursor", None), params.pop("limit")
    async with db.conn() as conn:
        page = await repository.list_page(conn, spec, params, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


def crud_router(
    spec: TableSpec[Any],
    *,
    path: str,
    filters: type[BaseModel],
    create: type[BaseModel] | None,
    update: type[BaseModel],
    prepare: Prepare = _as_is,
    check: Check | None = None,
    delete: bool = True,
) -> APIRouter:
    model = spec.model
    noun = spec.resource_type.replace("_", " ")
    router = APIRouter(prefix=path, tags=[noun + "s"])

    @router.get("", response_model=ListPage[model], summary=f"List {noun}s")  # type: ignore[valid-type]
    async def list_items(
        db: DbDep,
        _: CallerDep,
        flt: Annotated[filters, Query()],  # type: ignore[valid-type]
    ) -> Any:
        return await list_response(db, spec, flt)

    @router.get("/{id}", response_model=model, summary=f"Get a {noun}")
    async def get_item(id: UUID, db: DbDep, _: CallerDep, response: Response) -> Any:
        async with db.conn() as conn:
            item = await repository.get(conn, spec, id)
        response.headers["ETag"] = f'"{item.version}"'
        return item

    if create is not None:

        @router.post(
            "",
            response_model=model,
            status_code=status.HTTP_201_CREATED,
            summary=f"Create a {noun}",
        )
        async def create_item(
            body: create,  # type: ignore[valid-type]
            db: DbDep,
            caller: CallerDep,
            settings: SettingsDep,
            response: Response,
        ) -> Any:
            if check is not None:
                check(body, settings)
            async with db.tx() as conn:
                values = await prepare(conn, body)
                if spec.owner == "owner":  # an owned resource: the caller's, or one it sees
                    values["owner"] = caller.owner_for(values.get("owner"))
                item = await repository.insert(conn, spec, values)
            response.headers["Location"] = f"/api/v1{path}/{item.id}"
            response.headers["ETag"] = f'"{item.version}"'
            return item

    @router.patch("/{id}", response_model=model, summary=f"Update a {noun}")
    async def update_item(
        id: UUID,
        body: update,  # type: ignore[valid-type]
        db: DbDep,
        _: CallerDep,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        for field, value in changes.items():
            if value is None:
                raise InvalidInput(f"{field} cannot be null", field=field)
        async with db.tx() as conn:
            item = await repository.update(
                conn, spec, id, changes, expected_version=parse_if_match(if_match)
            )
        response.headers["ETag"] = f'"{item.version}"'
        return item

    if delete:  # else the resource's own router deletes (through its command)

        @router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {noun}")
        async def delete_item(id: UUID, db: DbDep, _: CallerDep) -> Response:
            async with db.tx() as conn:
                await repository.delete(conn, spec, id)
            return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
