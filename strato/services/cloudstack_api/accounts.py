"""Logins, sessions, and CloudStack's domains, accounts and users, through the ACL
service (its own endpoints' functions, so the same rules decide)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import Request, Response

from strato.domain.errors import Unauthorized
from strato.services.cloudstack_api import wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import COMMON
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.render import date
from strato.services.cloudstack_api.wire import CsError

ACCOUNT_TYPES = {"User": 0, "Admin": 1, "DomainAdmin": 2}


def domain_path(given: str | None) -> str:
    """CloudStack's domain path (``/`` or ``/sales/emea``, or ``ROOT/...``) as the
    ACL's (``ROOT/sales/emea``)."""
    inner = (given or "/").strip().strip("/")
    if inner.upper() == "ROOT" or inner.upper().startswith("ROOT/"):
        inner = inner[5:]
    return "ROOT/" + inner if inner else "ROOT"


async def login(
    request: Request, auth: Any, params: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``login``: a session (its key answered, and set as the JSESSIONID and sessionkey
    cookies CloudMonkey sends back)."""
    from strato.services.acl.api_sessions import log_in
    from strato.services.acl.models import Login

    if request.method != "POST":
        raise CsError(405, "Please use HTTP POST to authenticate using this API", None)
    username, password = params.get("username", ""), params.get("password", "")
    if not username or not password:
        raise CsError(wire.PARAM_ERROR, "login needs username and password")
    path = domain_path(params.get("domain"))
    try:
        session = await log_in(
            request.app.state.db, auth, Login(domain=path, username=username, password=password)
        )
    except Unauthorized as err:
        raise CsError(
            wire.ACCOUNT_ERROR,
            f"Failed to authenticate user {username} in domain {path}; please provide valid "
            f"credentials ({err.detail})",
            None,
        ) from None
    caller = await auth.by_session(request.app.state.db, session.token)
    p = caller.principal
    body = {
        "username": session.user.username,
        "userid": str(session.user.id),
        "domainid": str(session.user.domain_id),
        "timeout": auth.settings.session_ttl_s,
        "account": p.account,
        "firstname": session.user.username,
        "lastname": "",
        "type": str(ACCOUNT_TYPES.get(p.role_type, 0)),
        "timezone": "UTC",
        "timezoneoffset": "0.0",
        "registered": "false",
        "is2faenabled": "false",
        "is2faverified": "true",
        "sessionkey": session.token,
    }
    return body, {"JSESSIONID": session.token, "sessionkey": session.token}


@command("logout", "Ends the caller's session", response=("description",))
async def logout(call: Call) -> dict[str, Any]:
    from strato.services.acl.crypto import token_hash
    from strato.services.acl.schema import store

    request = call.request
    session = (
        call.params.get("sessionkey")
        or request.cookies.get("sessionkey")
        or request.cookies.get("JSESSIONID")
    )
    if not session:
        raise wire.param_error("logout ends a session: send its sessionkey")
    async with call.ctx.db.tx() as conn:
        await store.end_session(conn, token_hash(session))
    request.app.state.authenticator.invalidate()  # refused from the next request
    return {"description": "success"}


def account_view(a: Any, users: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(a.id),
        "name": a.name,
        "accounttype": ACCOUNT_TYPES.get(a.role_type, 0),
        "roleid": str(a.role_id),
        "rolename": a.role,
        "roletype": a.role_type,
        "domainid": str(a.domain_id),
        "domain": a.domain_path.rsplit("/", 1)[-1],
        "domainpath": a.domain_path,
        "state": a.state.lower(),
        "created": date(a.created_at),
        "isdefault": False,
    }
    if users is not None:
        out["user"] = [user_view(u, a) for u in users]
    return out


def user_view(u: Any, a: Any | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(u.id),
        "username": u.username,
        "accountid": str(u.account_id),
        "domainid": str(u.domain_id),
        "state": u.state.lower(),
        "email": u.email,
        "created": date(u.created_at),
        "firstname": u.username,
        "lastname": "",
        "usersource": "native" if u.source == "local" else u.source,
        "timezone": "UTC",
    }
    if a is not None:
        out.update(
            account=a.name,
            accounttype=ACCOUNT_TYPES.get(a.role_type, 0),
            roleid=str(a.role_id),
            rolename=a.role,
            roletype=a.role_type,
            domain=a.domain_path.rsplit("/", 1)[-1],
        )
    return out


def _page(call: Call, items: list[dict[str, Any]], item: str) -> dict[str, Any]:
    offset, limit = call.page()
    if not items:
        return {}
    page = items[offset : offset + limit]
    return {"count": len(items), item: page} if page else {"count": len(items)}


@command(
    "listDomains",
    "Lists the domains the caller sees",
    *COMMON,
    P("listall", "boolean"),
    P("level", "integer"),
    item="domain",
    action="acl.domain.list",
    response=("id", "name", "path", "parentdomainid", "level"),
)
async def list_domains(call: Call) -> dict[str, Any]:
    from strato.services.acl import api

    found = await api.list_domains(call.ctx.db, call.ctx.caller)
    shown = []
    for d in found:
        level = d.path.count("/")
        if call.get("id") is not None and d.id != call["id"]:
            continue
        if call.get("name") is not None and d.name != call["name"]:
            continue
        if call.get("level") is not None and level != call["level"]:
            continue
        out = {
            "id": str(d.id),
            "name": d.name,
            "path": d.path,
            "level": level,
            "state": d.state,
            "haschild": any(o.parent_id == d.id for o in found),
            "created": date(d.created_at),
        }
        if d.parent_id is not None:
            out["parentdomainid"] = str(d.parent_id)
            out["parentdomainname"] = d.path.rsplit("/", 2)[-2]
        shown.append(out)
    return _page(call, shown, "domain")


@command(
    "listAccounts",
    "Lists the accounts the caller sees",
    *COMMON,
    P("listall", "boolean"),
    P("domainid", "uuid"),
    P("accounttype", "integer"),
    P("state", "string"),
    P("isrecursive", "boolean"),
    item="account",
    action="acl.account.list",
    response=("id", "name", "accounttype", "domainid", "state", "user"),
)
async def list_accounts(call: Call) -> dict[str, Any]:
    from strato.services.acl import api

    accounts = await api.list_accounts(call.ctx.db, call.ctx.caller)
    users = await api.list_users(call.ctx.db, call.ctx.caller)
    shown = []
    for a in accounts:
        if call.get("id") is not None and a.id != call["id"]:
            continue
        if call.get("name") is not None and a.name != call["name"]:
            continue
        if call.get("domainid") is not None and a.domain_id != call["domainid"]:
            continue
        if call.get("state") and a.state.lower() != call["state"].lower():
            continue
        if (
            call.get("accounttype") is not None
            and ACCOUNT_TYPES.get(a.role_type) != call["accounttype"]
        ):
            continue
        shown.append(account_view(a, [u for u in users if u.account_id == a.id]))
    return _page(call, shown, "account")


@command(
    "listUsers",
    "Lists the users the caller sees",
    *COMMON,
    P("listall", "boolean"),
    P("account", "string"),
    P("domainid", "uuid"),
    P("username", "string"),
    P("state", "string"),
    item="user",
    action="acl.user.list",
    response=("id", "username", "account", "domainid", "state"),
)
async def list_users(call: Call) -> dict[str, Any]:
    from strato.services.acl import api

    accounts = {a.id: a for a in await api.list_accounts(call.ctx.db, call.ctx.caller)}
    shown = []
    for u in await api.list_users(call.ctx.db, call.ctx.caller):
        a = accounts.get(u.account_id)
        if call.get("id") is not None and u.id != call["id"]:
            continue
        if call.get("username") is not None and u.username != call["username"]:
            continue
        if call.get("account") is not None and (a is None or a.name != call["account"]):
            continue
        if call.get("domainid") is not None and u.domain_id != call["domainid"]:
            continue
        shown.append(user_view(u, a))
    return _page(call, shown, "user")


_ROLES = {0: "USER", 1: "ROOT_ADMIN", 2: "DOMAIN_ADMIN"}


@command(
    "createDomain",
    "Creates a sub-domain",
    P("name", "string", required=True),
    P("parentdomainid", "uuid", description="its parent (default: ROOT)"),
    item="domain",
    action="acl.domain.create",
    response=("id", "name", "path", "parentdomainid"),
)
async def create_domain(call: Call) -> dict[str, Any]:
    from strato.services.acl import api, rules
    from strato.services.acl.models import DomainCreate

    body = DomainCreate(
        name=call["name"], parent_id=call.get("parentdomainid") or rules.ROOT_DOMAIN
    )
    d = await api.create_domain(body, call.request, call.ctx.db, call.ctx.caller, Response())
    return {
        "domain": {
            "id": str(d.id),
            "name": d.name,
            "path": d.path,
            "level": d.path.count("/"),
            "parentdomainid": str(d.parent_id),
            "state": d.state,
        }
    }


_USER = (
    P("username", "string", required=True),
    P("password", "string", required=True),
    P("email", "string", required=True),
    P("firstname", "string", required=True),
    P("lastname", "string", required=True),
    P("domainid", "uuid"),
    P("timezone", "string"),
)


@command(
    "createAccount",
    "Creates an account with its first user",
    *_USER,
    P("account", "string", description="its name (default: the username)"),
    P("accounttype", "integer", description="0 user, 1 root admin, 2 domain admin"),
    P("roleid", "uuid"),
    item="account",
    action="acl.account.create",
    response=("id", "name", "accounttype", "domainid", "user"),
)
async def create_account(call: Call) -> dict[str, Any]:
    from strato.services.acl import api, rules
    from strato.services.acl.models import AccountCreate, UserCreate
    from strato.services.acl.schema import store

    role = call.get("roleid")
    if role is None:
        kind = call.get("accounttype", 0)
        if kind not in _ROLES:
            raise wire.param_error(f"accounttype {kind} is not 0, 1 or 2 (or give roleid)")
        role = getattr(rules, _ROLES[kind])
    body = AccountCreate(
        name=call.get("account") or call["username"],
        domain_id=call.get("domainid") or rules.ROOT_DOMAIN,
        role_id=role,
    )
    # The user is checked before the account is made (two steps of the ACL's, so a user
    # refused after it would leave an account without one).
    fields = {"username": call["username"], "password": call["password"], "email": call["email"]}
    UserCreate(account_id=uuid4(), **fields)
    async with call.ctx.db.conn() as conn:
        if await store.login_row(conn, body.domain_id, call["username"]) is not None:
            raise wire.param_error(f"a user named {call['username']} exists in that domain")
    a = await api.create_account(body, call.request, call.ctx.db, call.ctx.caller, Response())
    user = UserCreate(account_id=a.id, **fields)
    u = await api.create_user(user, call.request, call.ctx.db, call.ctx.caller, Response())
    return {"account": account_view(a, [u])}


@command(
    "createUser",
    "Creates a user of an account",
    *_USER,
    P("account", "string", required=True),
    item="user",
    action="acl.user.create",
    response=("id", "username", "account", "domainid"),
)
async def create_user(call: Call) -> dict[str, Any]:
    from strato.services.acl import api
    from strato.services.acl.models import UserCreate

    accounts = await api.list_accounts(call.ctx.db, call.ctx.caller)
    found = [
        a
        for a in accounts
        if a.name == call["account"]
        and (call.get("domainid") is None or a.domain_id == call["domainid"])
    ]
    if not found:
        raise wire.param_error(f"Unable to find account {call['account']}")
    body = UserCreate(
        account_id=found[0].id,
        username=call["username"],
        password=call["password"],
        email=call["email"],
    )
    u = await api.create_user(body, call.request, call.ctx.db, call.ctx.caller, Response())
    return {"user": user_view(u, found[0])}


@command(
    "registerUserKeys",
    "Makes a new API key pair for a user (its secret shown in this answer only)",
    P("id", "uuid", required=True, description="the user"),
    item="userkeys",
    action="acl.user.key.create",
    response=("apikey", "secretkey"),
)
async def register_user_keys(call: Call) -> dict[str, Any]:
    from strato.services.acl import api_keys
    from strato.services.acl.models import ApiKeyCreate

    key = await api_keys.create_key(
        call["id"], ApiKeyCreate(name="cloudstack"), call.request, call.ctx.db, call.ctx.caller
    )
    return {"userkeys": {"apikey": key.access_key, "secretkey": key.secret_key}}
