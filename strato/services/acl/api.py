"""The ACL API under /api/v1/acl: domains, accounts, users and roles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from strato.api.deps import CallerDep, DbDep
from strato.domain.errors import Forbidden
from strato.services.acl import rules
from strato.services.acl import scope as see
from strato.services.acl.auth import AclAuth
from strato.services.acl.models import (
    Account,
    AccountCreate,
    AccountUpdate,
    Domain,
    DomainCreate,
    Role,
    RoleCreate,
    RulesReplace,
    User,
    UserCreate,
    UserUpdate,
)
from strato.services.acl.schema import store

router = APIRouter(prefix="/acl", tags=["acl"])


def acl(request: Request) -> AclAuth:
    auth = request.app.state.authenticator
    assert isinstance(auth, AclAuth)
    return auth


# -- domains ------------------------------------------------------------------------


@router.get("/domains", response_model=list[Domain], summary="Domains the caller sees")
async def list_domains(db: DbDep, caller: CallerDep) -> list[Domain]:
    p = see.principal(caller)
    async with db.conn() as conn:
        if p is not None and p.role_type == "User":  # its own domain, not the tree below
            return [await store.get_domain(conn, p.domain_id)]
        return await store.list_domains(conn, see.top_path(caller))


@router.post(
    "/domains", response_model=Domain, status_code=status.HTTP_201_CREATED, summary="A sub-domain"
)
async def create_domain(
    body: DomainCreate, request: Request, db: DbDep, caller: CallerDep, response: Response
) -> Domain:
    async with db.tx() as conn:
        parent = await store.get_domain(conn, body.parent_id)  # 404: a missing parent
        see.see_domain(caller, parent)
        see.administer(caller, parent.path)
        domain = await store.create_domain(conn, body.name, parent)
    response.headers["Location"] = f"/api/v1/acl/domains/{domain.id}"
    return domain


@router.get("/domains/{id}", response_model=Domain, summary="A domain")
async def get_domain(id: UUID, db: DbDep, caller: CallerDep) -> Domain:
    async with db.conn() as conn:
        domain = await store.get_domain(conn, id)
    see.see_domain(caller, domain)
    return domain


@router.delete("/domains/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="An empty domain")
async def delete_domain(id: UUID, db: DbDep, caller: CallerDep) -> Response:
    async with db.tx() as conn:
        domain = await store.get_domain(conn, id)
        see.see_domain(caller, domain)
        see.administer(caller, domain.path, strictly_below=True)
        await store.delete_domain(conn, domain)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- accounts -----------------------------------------------------------------------


def _role_types(caller: Any, domain_path: str) -> set[str]:
    """The role types the caller may hand out there: a root admin any; a domain admin
    users in its own domain, and domain admins below it."""
    if see.is_root(caller):
        return {"Admin", "DomainAdmin", "User"}
    p = see.principal(caller)
    return {"User"} if p is not None and p.domain_path == domain_path else {"DomainAdmin", "User"}


@router.get("/accounts", response_model=list[Account], summary="Accounts the caller sees")
async def list_accounts(db: DbDep, caller: CallerDep) -> list[Account]:
    p = see.principal(caller)
    only = p.account_id if p is not None and p.role_type == "User" else None
    async with db.conn() as conn:
        return await store.list_accounts(conn, see.top_path(caller), only)


@router.post(
    "/accounts", response_model=Account, status_code=status.HTTP_201_CREATED, summary="An account"
)
async def create_account(
    body: AccountCreate, request: Request, db: DbDep, caller: CallerDep, response: Response
) -> Account:
    async with db.tx() as conn:
        domain = await store.get_domain(conn, body.domain_id)
        see.see_domain(caller, domain)
        see.administer(caller, domain.path)
        role = await store.get_role(conn, body.role_id)
        store.check_role_type(role, _role_types(caller, domain.path))
        account = await store.create_account(conn, body.name, domain.id, role.id)
    acl(request).invalidate()  # domain admins above it see one more account
    response.headers["Location"] = f"/api/v1/acl/accounts/{account.id}"
    return account


@router.get("/accounts/{id}", response_model=Account, summary="An account")
async def get_account(id: UUID, db: DbDep, caller: CallerDep) -> Account:
    async with db.conn() as conn:
        account = await store.get_account(conn, id)
    see.see_account(caller, account)
    return account


@router.patch("/accounts/{id}", response_model=Account, summary="Enable, disable, change role")
async def update_account(
    id: UUID, body: AccountUpdate, request: Request, db: DbDep, caller: CallerDep
) -> Account:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with db.tx() as conn:
        account = await store.get_account(conn, id)
        see.see_account(caller, account)
        see.manage(caller, account)
        if id == rules.ADMIN_ACCOUNT and changes:
            raise Forbidden("the root admin account cannot be disabled or demoted")
        if "role_id" in changes:
            role = await store.get_role(conn, changes["role_id"])
            store.check_role_type(role, _role_types(caller, account.domain_path))
        account = await store.update_account(conn, id, changes)
    acl(request).invalidate()  # a disabled account is refused on its next request
    return account


# -- users --------------------------------------------------------------------------


@router.get("/users", response_model=list[User], summary="Users the caller sees")
async def list_users(db: DbDep, caller: CallerDep, account_id: UUID | None = None) -> list[User]:
    p = see.principal(caller)
    async with db.conn() as conn:
        if p is not None and p.role_type == "User":
            return [await store.get_user(conn, p.user_id)]
        accounts = await store.list_accounts(conn, see.top_path(caller), account_id)
        return await store.list_users(conn, [a.id for a in accounts])


@router.post("/users", response_model=User, status_code=status.HTTP_201_CREATED, summary="A user")
async def create_user(
    body: UserCreate, request: Request, db: DbDep, caller: CallerDep, response: Response
) -> User:
    hashed = await acl(request).passwords.hash(body.password)
    async with db.tx() as conn:
        account = await store.get_account(conn, body.account_id)
        see.see_account(caller, account)
        see.manage(caller, account, own_ok=True)
        user = await store.create_user(conn, account, body.username, hashed, email=body.email)
    response.headers["Location"] = f"/api/v1/acl/users/{user.id}"
    return user


@router.get("/users/{id}", response_model=User, summary="A user")
async def get_user(id: UUID, db: DbDep, caller: CallerDep) -> User:
    async with db.conn() as conn:
        user = await store.get_user(conn, id)
        see.see_user(caller, user, await store.get_account(conn, user.account_id))
    return user


@router.patch("/users/{id}", response_model=User, summary="Enable, disable, set a password")
async def update_user(
    id: UUID, body: UserUpdate, request: Request, db: DbDep, caller: CallerDep
) -> User:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True)
    if "password" in changes:
        changes["password_hash"] = await acl(request).passwords.hash(changes.pop("password"))
    async with db.tx() as conn:
        user = await store.get_user(conn, id)
        account = await store.get_account(conn, user.account_id)
        see.see_user(caller, user, account)
        if not (see.own_user(caller, id) and set(changes) <= {"password_hash"}):
            see.manage(caller, account, own_ok=True)  # users change only their password
        user = await store.update_user(conn, id, changes)
    acl(request).invalidate()
    return user


# -- roles --------------------------------------------------------------------------


@router.get("/roles", response_model=list[Role], summary="Roles and their rules")
async def list_roles(db: DbDep, _: CallerDep) -> list[Role]:
    async with db.conn() as conn:
        return await store.list_roles(conn)


@router.get("/roles/{id}", response_model=Role, summary="A role and its rules")
async def get_role(id: UUID, db: DbDep, _: CallerDep) -> Role:
    async with db.conn() as conn:
        return await store.get_role(conn, id)


@router.post("/roles", response_model=Role, status_code=status.HTTP_201_CREATED, summary="A role")
async def create_role(body: RoleCreate, db: DbDep, caller: CallerDep, response: Response) -> Role:
    if not see.is_root(caller):
        raise Forbidden(f"only a root admin makes roles, not {caller.name}")
    async with db.tx() as conn:
        role = await store.create_role(conn, body.name, body.type, body.description, body.rules)
    response.headers["Location"] = f"/api/v1/acl/roles/{role.id}"
    return role


@router.put("/roles/{id}/rules", response_model=Role, summary="Replace a role's rules")
async def replace_rules(
    id: UUID, body: RulesReplace, request: Request, db: DbDep, caller: CallerDep
) -> Role:
    if not see.is_root(caller):
        raise Forbidden(f"only a root admin changes roles, not {caller.name}")
    if id == rules.ROOT_ADMIN:
        raise Forbidden("the Root Admin role's rules cannot be changed")
    async with db.tx() as conn:
        await store.get_role(conn, id)
        await store.replace_rules(conn, id, body.rules)
        role = await store.get_role(conn, id)
    acl(request).invalidate()  # the new rules decide the next request
    return role
