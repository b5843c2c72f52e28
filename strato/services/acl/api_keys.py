"""The ACL API's key pairs and resource limits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from strato.api.deps import CallerDep, DbDep
from strato.commands.auth import Caller
from strato.commands.limits import RESOURCES, held
from strato.domain.errors import InvalidInput
from strato.services.acl import crypto
from strato.services.acl import scope as see
from strato.services.acl.api import acl
from strato.services.acl.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPair,
    Limit,
    LimitSet,
)
from strato.services.acl.schema import limits, store

router = APIRouter(prefix="/acl", tags=["acl"])


async def _may_manage_keys(conn: Any, caller: Caller, user_id: UUID) -> None:
    """A user manages its own keys; an administrator those of the users it administers."""
    user = await store.get_user(conn, user_id)
    account = await store.get_account(conn, user.account_id)
    see.see_user(caller, user, account)
    if not see.own_user(caller, user_id):
        see.manage(caller, account, own_ok=True)


@router.post(
    "/users/{id}/keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="A new API key pair (its secret is shown only here)",
)
async def create_key(
    id: UUID, body: ApiKeyCreate, request: Request, db: DbDep, caller: CallerDep
) -> ApiKeyCreated:
    auth = acl(request)
    access, secret = crypto.new_key_pair()
    sealed = auth.sealer.seal(secret, access)
    async with db.tx() as conn:
        await _may_manage_keys(conn, caller, id)
        row = await store.add_key(conn, id, body.name, access, sealed)
    return ApiKeyCreated(**row, secret_key=secret)


@router.get("/users/{id}/keys", response_model=list[ApiKeyPair], summary="A user's key pairs")
async def list_keys(id: UUID, db: DbDep, caller: CallerDep) -> list[ApiKeyPair]:
    async with db.conn() as conn:
        await _may_manage_keys(conn, caller, id)
        return [ApiKeyPair(**r) for r in await store.list_keys(conn, id)]


@router.delete(
    "/keys/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key pair (refused from the next request on)",
)
async def revoke_key(id: UUID, request: Request, db: DbDep, caller: CallerDep) -> Response:
    async with db.tx() as conn:
        key = await store.get_key(conn, id)
        await _may_manage_keys(conn, caller, key["user_id"])
        await store.revoke_key(conn, id)
    acl(request).invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- limits -------------------------------------------------------------------------


def _resource(resource: str) -> str:
    if resource not in RESOURCES:
        raise InvalidInput(
            f"{resource!r} is not a limited resource; one of {', '.join(RESOURCES)}",
            field="resource",
        )
    return resource


async def _limits(conn: Any, target: UUID, owners: list[str]) -> list[Limit]:
    maxes = await limits.limits_of(conn, target)
    out = []
    for resource in RESOURCES:
        used = await held(conn, owners, resource)
        top = maxes.get(resource, -1)
        out.append(Limit(resource=resource, max=top, used=used, exceeded=0 <= top < used))
    return out


@router.get("/accounts/{id}/limits", response_model=list[Limit], summary="An account's limits")
async def account_limits(id: UUID, db: DbDep, caller: CallerDep) -> list[Limit]:
    async with db.conn() as conn:
        account = await store.get_account(conn, id)
        see.see_account(caller, account)
        return await _limits(conn, id, [str(id)])


@router.put(
    "/accounts/{id}/limits/{resource}",
    response_model=Limit,
    summary="Set an account's limit (-1: none); one below its usage is kept, and reported",
)
async def set_account_limit(
    id: UUID, resource: str, body: LimitSet, db: DbDep, caller: CallerDep
) -> Limit:
    _resource(resource)
    async with db.tx() as conn:
        account = await store.get_account(conn, id)
        see.see_account(caller, account)
        see.manage(caller, account)  # a domain admin: not its own account's, nor its peers'
        await limits.set_limit(conn, id, "account", resource, body.max)
        used = await held(conn, [str(id)], resource)
    return Limit(resource=resource, max=body.max, used=used, exceeded=0 <= body.max < used)


@router.get("/domains/{id}/limits", response_model=list[Limit], summary="A domain's limits")
async def domain_limits(id: UUID, db: DbDep, caller: CallerDep) -> list[Limit]:
    async with db.conn() as conn:
        domain = await store.get_domain(conn, id)
        see.see_domain(caller, domain)
        see.administer(caller, domain.path)  # a domain's usage is its administrators'
        owners = [str(a) for a in await store.accounts_under(conn, domain.path)]
        return await _limits(conn, id, owners)


@router.put(
    "/domains/{id}/limits/{resource}",
    response_model=Limit,
    summary="Set a domain's limit, which bounds its sub-domains too (-1: none)",
)
async def set_domain_limit(
    id: UUID, resource: str, body: LimitSet, db: DbDep, caller: CallerDep
) -> Limit:
    _resource(resource)
    async with db.tx() as conn:
        domain = await store.get_domain(conn, id)
        see.see_domain(caller, domain)
        see.administer(caller, domain.path, strictly_below=True)
        await limits.set_limit(conn, id, "domain", resource, body.max)
        owners = [str(a) for a in await store.accounts_under(conn, domain.path)]
        used = await held(conn, owners, resource)
    return Limit(resource=resource, max=body.max, used=used, exceeded=0 <= body.max < used)
