"""Admin API keys: create (the token is shown once), list, revoke."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from strato.api.deps import AdminDep, DbDep
from strato.api.schemas.common import Name, Request
from strato.domain.models import ApiKey
from strato.schema import api_keys

router = APIRouter(prefix="/api-keys", tags=["api keys"])


class ApiKeyCreate(Request):
    name: Name
    scope: Literal["admin", "read"] = "admin"


class ApiKeyCreated(BaseModel):
    key: ApiKey
    token: str


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_key(
    body: ApiKeyCreate, db: DbDep, _: AdminDep, response: Response
) -> ApiKeyCreated:
    async with db.tx() as conn:
        key, token = await api_keys.create(conn, body.name, body.scope)
    response.headers["Location"] = f"/api/v1/api-keys/{key.id}"
    return ApiKeyCreated(key=key, token=token)


@router.get("", response_model=list[ApiKey])
async def list_keys(db: DbDep, _: AdminDep) -> list[ApiKey]:
    async with db.conn() as conn:
        return await api_keys.list_all(conn)


@router.delete("/{id}", response_model=ApiKey, summary="Revoke a key (idempotent)")
async def revoke_key(id: UUID, db: DbDep, _: AdminDep) -> ApiKey:
    async with db.tx() as conn:
        return await api_keys.revoke(conn, id)
