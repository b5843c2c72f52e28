"""Dependencies shared by routers: database, Temporal client, settings, API-key auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from temporalio.client import Client

from strato.commands.auth import ApiKeyScopes, Authorizer, Caller
from strato.commands.context import CommandContext
from strato.commands.limits import Unlimited
from strato.domain.errors import Forbidden, Unauthorized
from strato.domain.models import ApiKey
from strato.schema import api_keys
from strato.schema.db import Database
from strato.settings import Settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbDep = Annotated[Database, Depends(get_db)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticated_key(request: Request, db: DbDep) -> ApiKey:
    """The caller's live API key; 401 when missing, malformed, unknown or revoked."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be `Bearer <key>`")
    async with db.conn() as conn:
        key = await api_keys.authenticate(conn, token.strip())
    if key is None:
        raise Unauthorized("the API key is unknown or has been revoked")
    return key


async def authorized_key(
    request: Request, key: Annotated[ApiKey, Depends(authenticated_key)]
) -> ApiKey:
    """Read-scoped keys may only read; admin keys may do anything (403 otherwise)."""
    if key.scope != "admin" and request.method not in _READ_METHODS:
        raise Forbidden(f"key {key.name!r} has scope {key.scope!r}; this request needs 'admin'")
    return key


async def admin_key(key: Annotated[ApiKey, Depends(authenticated_key)]) -> ApiKey:
    if key.scope != "admin":
        raise Forbidden(f"key {key.name!r} has scope {key.scope!r}; this request needs 'admin'")
    return key


CallerDep = Annotated[ApiKey, Depends(authorized_key)]
AdminDep = Annotated[ApiKey, Depends(admin_key)]


def get_authorizer(request: Request) -> Authorizer:
    """The installed authorizer (app.state.authorizer), or the API-key scopes."""
    authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
    return authorizer if authorizer is not None else ApiKeyScopes()


async def command_context(
    request: Request, db: DbDep, temporal: TemporalDep, settings: SettingsDep, key: CallerDep
) -> CommandContext:
    """What a command runs with, for a caller of this API."""
    return CommandContext(
        db=db,
        temporal=temporal,
        settings=settings,
        caller=Caller(name=key.name, scope=key.scope, key_id=key.id),
        authorizer=get_authorizer(request),
        limits=getattr(request.app.state, "limits", None) or Unlimited(),
    )


CommandsDep = Annotated[CommandContext, Depends(command_context)]

# The Idempotency-Key header: a request repeated with it answers as the first did.
IdemKey = Annotated[str | None, Header(max_length=255)]
