"""Dependencies shared by routers: database, Temporal client, settings, API-key auth."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from temporalio.client import Client

from strato.commands.auth import Action, ApiKeyScopes, Authenticator, Authorizer, Caller
from strato.commands.context import CommandContext
from strato.commands.limits import Unlimited
from strato.domain.errors import Forbidden, Unauthorized
from strato.schema import api_keys, scope
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

API_PREFIX = "/api/v1"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _core_key(request: Request, db: Database) -> Caller:
    """The caller behind one of the core's API keys; 401 when missing, malformed,
    unknown or revoked."""
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
    return Caller(name=key.name, scope=key.scope, key_id=key.id)


async def authenticated(request: Request, db: DbDep) -> Caller:
    """Who is calling: the installed authenticator's answer (the ACL service's signed
    requests and sessions), else the core's API keys."""
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is not None:
        caller = await authenticator.authenticate(request)
        if caller is not None:
            return caller
    return await _core_key(request, db)


def _singular(word: str) -> str:
    word = word.replace("-", "_")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us")) else word


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def route_action(request: Request) -> Action:
    """The operation a request is, named from its route: every read ends in ``.list`` or
    ``.get`` (``GET /vms`` is ``vm.list``, ``GET /vms/{id}`` ``vm.get``, ``GET
    /vms/{id}/backups`` ``vm.backup.list``); a write on a resource is its method's verb
    (``POST /vms`` ``vm.create``, ``DELETE /hosts/{id}`` ``host.delete``) and an action
    its own name (``POST /vms/{id}/stop`` ``vm.stop``). Role rules match these names,
    and the names the commands authorize (``vm.deploy``, ``vm.destroy``)."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path).removeprefix(API_PREFIX)
    parts = [p for p in path.split("/") if p]
    literals = [p for p in parts if not p.startswith("{")]
    on_item = bool(parts) and parts[-1].startswith("{")
    method = request.method.upper()
    kind = _singular(literals[0]) if literals else "api"
    if method in _READ_METHODS:
        name = ".".join([*(_singular(n) for n in literals), "get" if on_item else "list"])
    elif on_item or len(literals) < 2:
        name = ".".join([*(_singular(n) for n in literals), _METHOD_VERBS.get(method, "call")])
    else:  # an action on a resource: the last word is its verb
        *nouns, verb = literals
        name = ".".join([*(_singular(n) for n in nouns), verb.replace("-", "_")])
        if method == "DELETE":
            name += ".delete"
    try:
        resource_id = UUID(request.path_params["id"]) if "id" in request.path_params else None
    except ValueError:
        resource_id = None
    return Action(name, kind, resource_id, mutating=method not in _READ_METHODS)


def get_authorizer(request: Request) -> Authorizer:
    """The installed authorizer (app.state.authorizer), or the API-key scopes."""
    authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
    return authorizer if authorizer is not None else ApiKeyScopes()


async def authorized(request: Request, caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """The caller, allowed this request's operation by the installed authorizer (403
    otherwise), with the request narrowed to the owners it sees."""
    await get_authorizer(request).authorize(caller, route_action(request))
    scope.restrict(caller.owners)
    return caller


async def admin_caller(caller: Annotated[Caller, Depends(authorized)]) -> Caller:
    """Only the cloud's administrators (an admin API key; the ACL's root admins)."""
    if caller.scope != "admin" or caller.owners is not None:
        raise Forbidden(f"{caller.name!r} has scope {caller.scope!r}; this request needs 'admin'")
    return caller


CallerDep = Annotated[Caller, Depends(authorized)]
AdminDep = Annotated[Caller, Depends(admin_caller)]


async def command_context(
    request: Request, db: DbDep, temporal: TemporalDep, settings: SettingsDep, caller: CallerDep
) -> CommandContext:
    """What a command runs with, for a caller of this API."""
    return CommandContext(
        db=db,
        temporal=temporal,
        settings=settings,
        caller=caller,
        authorizer=get_authorizer(request),
        limits=getattr(request.app.state, "limits", None) or Unlimited(),
    )


CommandsDep = Annotated[CommandContext, Depends(command_context)]

# The Idempotency-Key header: a request repeated with it answers as the first did.
IdemKey = Annotated[str | None, Header(max_length=255)]


class RequestScope:
    """ASGI middleware: each request runs in its own owner scope (strato.schema.scope),
    narrowed once its caller is known."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope_: Any, receive: Any, send: Any) -> None:
        if scope_["type"] != "http":
            await self.app(scope_, receive, send)
            return
        with scope.request():
            await self.app(scope_, receive, send)
