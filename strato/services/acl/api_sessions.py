"""The ACL API's logins (local passwords, or the domain's LDAP server), sessions, and
the LDAP binding of a domain."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status

from strato.api.deps import CallerDep, DbDep
from strato.domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from strato.schema.db import Database
from strato.services.acl import crypto, ldap
from strato.services.acl import scope as see
from strato.services.acl.api import acl
from strato.services.acl.auth import AclAuth
from strato.services.acl.models import Login, Session, WhoAmI
from strato.services.acl.schema import store

router = APIRouter(prefix="/acl", tags=["acl"])

_WRONG = "the username or password is wrong"


def _states(row: dict[str, Any]) -> None:
    for what in ("domain", "account"):
        if row[f"{what}_state"] != "Enabled":
            raise Unauthorized(f"the {what} is {row[f'{what}_state'].lower()}")
    if row["state"] == "Locked":
        raise Unauthorized(
            "the user is locked after too many failed logins; an administrator enables it"
        )
    if row["state"] != "Enabled":
        raise Unauthorized("the user is disabled")


async def _session(conn: Any, auth: AclAuth, user_id: UUID) -> Session:
    token = crypto.new_session_token()
    expires = await store.add_session(
        conn, crypto.token_hash(token), user_id, auth.settings.session_ttl_s
    )
    return Session(token=token, expires_at=expires, user=await store.get_user(conn, user_id))


@router.post("/login", response_model=Session, summary="Log in with a password: a session")
async def login(body: Login, request: Request, db: DbDep) -> Session:
    """A local user's password, or, in a domain bound to LDAP, the directory's."""
    return await log_in(db, acl(request), body)


async def log_in(db: Database, auth: AclAuth, body: Login) -> Session:
    """A session for a user's password (local, or its domain's LDAP server's); 401
    for a wrong one (counted: enough in a row lock a local user)."""
    locked = False
    async with db.tx() as conn:
        domain = await store.domain_by_path(conn, body.domain)
        row = await store.login_row(conn, domain.id, body.username) if domain else None
        stored = await store.get_ldap(conn, domain.id) if domain else None
        local = row is not None and row["source"] == "local"
        if domain is not None and stored is not None and not local:
            pass  # the directory's user (known or new): asked below, no transaction held
        else:
            # An unknown user costs a hash too: the answer's time tells nothing. The
            # user's state is told only to whoever knows its password.
            hashed = row["password_hash"] if local and row else await auth.dummy_hash()
            ok = await auth.passwords.verify(hashed, body.password)
            if row is None or not local:
                raise Unauthorized(_WRONG)
            if ok:
                _states(row)
                if row["failed_logins"]:
                    await store.update_user(conn, row["id"], {"failed_logins": 0})
                return await _session(conn, auth, row["id"])
            if row["state"] == "Enabled":
                locked = await store.login_failed(conn, row["id"], auth.settings.max_failed_logins)
    if stored is None or domain is None:  # a wrong password: counted (committed), refused
        raise Unauthorized(_WRONG + ("; the user is now locked" if locked else ""))
    return await _ldap_login(db, auth, domain.id, auth.ldap_binding(stored), body)


async def _ldap_login(
    db: Database, auth: AclAuth, domain_id: UUID, binding: ldap.LdapBinding, body: Login
) -> Session:
    found = await ldap.authenticate(binding, body.username, body.password)  # no tx held
    account_id = ldap.account_for(binding, found)
    async with db.tx() as conn:
        row = await store.login_row(conn, domain_id, body.username)
        if row is None:
            account = await store.get_account(conn, account_id)
            user = await store.create_user(conn, account, body.username, None, source="ldap")
            row = await store.login_row(conn, domain_id, user.username)
            assert row is not None
        elif row["account_id"] != account_id:
            # Its groups changed in the directory: it follows them (and its role with them).
            await store.move_user(conn, row["id"], account_id)
            auth.invalidate()
            row = await store.login_row(conn, domain_id, body.username)
            assert row is not None
        _states(row)
        return await _session(conn, auth, row["id"])


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
async def logout(
    request: Request, db: DbDep, _: CallerDep, authorization: Annotated[str, Header()] = ""
) -> Response:
    token = authorization.partition(" ")[2].strip()
    if not token.startswith(crypto.SESSION_PREFIX):
        raise InvalidInput("only a session (Bearer sess_...) can log out", field="Authorization")
    async with db.tx() as conn:
        await store.end_session(conn, crypto.token_hash(token))
    acl(request).invalidate()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/whoami", response_model=WhoAmI, summary="The caller, as the ACL sees it")
async def whoami(caller: CallerDep) -> WhoAmI:
    p = see.principal(caller)
    if p is None:
        return WhoAmI(name=caller.name, scope=caller.scope)
    return WhoAmI(
        name=caller.name,
        scope=caller.scope,
        user_id=p.user_id,
        account_id=p.account_id,
        domain_path=p.domain_path,
        role=p.role,
        role_type=p.role_type,
    )


# -- a domain's LDAP server -----------------------------------------------------------


@router.put(
    "/domains/{id}/ldap",
    response_model=ldap.LdapBinding,
    summary="Bind a domain to an LDAP/AD server: its users log in there, groups map to accounts",
)
async def bind_ldap(
    id: UUID, body: ldap.LdapBinding, request: Request, db: DbDep, caller: CallerDep
) -> ldap.LdapBinding:
    if not see.is_root(caller):
        raise Forbidden(f"only a root admin binds a domain to LDAP, not {caller.name}")
    stored = body.model_dump(mode="json")
    if body.bind_password:
        sealed = acl(request).sealer.seal(body.bind_password, "ldap:" + body.url)
        stored["bind_password"] = sealed.hex()
    async with db.tx() as conn:
        domain = await store.get_domain(conn, id)
        for i, m in enumerate(body.mappings):
            account = await store.get_account(conn, m.account_id)
            if account.domain_id != domain.id:
                raise InvalidInput(
                    f"mappings[{i}]: account {account.name} is not in domain {domain.path}",
                    field="mappings",
                )
        await store.set_ldap(conn, id, stored)
    return body.model_copy(update={"bind_password": None})


@router.get("/domains/{id}/ldap", response_model=ldap.LdapBinding, summary="A domain's LDAP server")
async def get_ldap(id: UUID, db: DbDep, caller: CallerDep) -> ldap.LdapBinding:
    async with db.conn() as conn:
        domain = await store.get_domain(conn, id)
        see.see_domain(caller, domain)
        see.administer(caller, domain.path)
        stored = await store.get_ldap(conn, id)
    if stored is None:
        raise NotFound(f"domain {domain.path} is not bound to LDAP", id=str(id))
    return ldap.LdapBinding.model_validate({**stored, "bind_password": None})
