"""``/client/api``: CloudStack's one endpoint. Each request is authenticated (a signed
API key of the ACL service, or a session from ``login``), its command found and its
parameters checked, and the command's handler answers in CloudStack's envelope (JSON,
or XML as CloudStack's default). Every error is CloudStack's error object with the
HTTP status equal to its ``errorcode``; nothing escapes as a bare 500."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from strato.commands.auth import Action, ApiKeyScopes, Caller
from strato.commands.context import CommandContext
from strato.commands.limits import LimitExceeded, Unlimited
from strato.domain import errors
from strato.schema import scope
from strato.services.cloudstack_api import registry, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.wire import CsError

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
_BAD_CREDENTIALS = "unable to verify user credentials and/or request signature"


def _acl(request: Request) -> Any:
    from strato.services.acl.auth import AclAuth

    auth = getattr(request.app.state, "authenticator", None)
    if not isinstance(auth, AclAuth):
        raise CsError(
            wire.UNAUTHORIZED,
            "the CloudStack API authenticates through the ACL service, which is not "
            "switched on (STRATO_SERVICES=acl,cloudstack_api)",
            wire.CS_AUTH,
        )
    return auth


async def _items(request: Request) -> list[tuple[str, str]]:
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if body and kind in (FORM, ""):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise wire.param_error("the form body is not UTF-8") from None
            items += parse_qsl(text, keep_blank_values=True)
    return items


async def _caller(request: Request, items: list[tuple[str, str]], params: dict[str, str]) -> Caller:
    """Who signed (or which session sent) this request; 401 otherwise."""
    auth = _acl(request)
    db = request.app.state.db
    signature = params.get("signature")
    if signature is not None:
        api_key = params.get("apikey", "")
        if not api_key:
            raise CsError(wire.UNAUTHORIZED, _BAD_CREDENTIALS, None)
        expires = params.get("expires")
        if params.get("signatureversion", "") == "3":
            if expires is None:
                raise CsError(wire.UNAUTHORIZED, "signatureVersion=3 needs expires", None)
            if wire.expired(wire.parse_expires(expires)):
                raise CsError(wire.UNAUTHORIZED, f"the signature expired at {expires}", None)
        try:
            caller, secret = await auth.by_access_key(db, api_key)
        except errors.Unauthorized:
            raise CsError(wire.UNAUTHORIZED, _BAD_CREDENTIALS, None) from None
        if not wire.signature_matches(secret, items, signature):
            raise CsError(wire.UNAUTHORIZED, _BAD_CREDENTIALS, None)
        return caller  # type: ignore[no-any-return]
    # A session is named by the sessionkey parameter (a cookie alone would let another
    # site's page act in a logged-in browser's name); CloudMonkey's logout sends only
    # its cookie, and a forged logout harms no one.
    session = params.get("sessionkey")
    if session is None and params.get("command", "").lower() == "logout":
        session = request.cookies.get("sessionkey") or request.cookies.get("JSESSIONID")
    if session:
        try:
            return await auth.by_session(db, session)  # type: ignore[no-any-return]
        except errors.Unauthorized:
            raise CsError(wire.UNAUTHORIZED, "unable to verify user credentials", None) from None
    raise CsError(wire.UNAUTHORIZED, _BAD_CREDENTIALS, None)


def _context(request: Request, caller: Caller) -> CommandContext:
    state = request.app.state
    return CommandContext(
        db=state.db,
        temporal=state.temporal,
        settings=state.settings,
        caller=caller,
        authorizer=getattr(state, "authorizer", None) or ApiKeyScopes(),
        limits=getattr(state, "limits", None) or Unlimited(),
    )


def _unknown(name: str) -> CsError:
    closest = registry.UNSUPPORTED.get(name.lower())
    hint = f"; the closest supported command is {closest}" if closest else ""
    return CsError(
        wire.UNSUPPORTED,
        f"The given command:{name} does not exist or it is not available for user{hint}",
        wire.CS_SERVER_API,
    )


def translate(err: Exception) -> CsError:
    """A Strato error as CloudStack would have answered it."""
    if isinstance(err, CsError):
        return err
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return wire.param_error(f"{where}: {first.get('msg')}" if where else str(first))
    if isinstance(err, errors.Unauthorized):
        return CsError(wire.UNAUTHORIZED, err.detail, None)
    if isinstance(err, errors.NotFound) and err.extra.get("id"):
        return wire.param_error(
            f"Invalid parameter id value={err.extra['id']} due to incorrect long value format, "
            f"or entity does not exist ({err.detail})"
        )
    if isinstance(err, errors.Forbidden):
        return CsError(wire.ACCOUNT_ERROR, err.detail, wire.CS_PERMISSION_DENIED)
    if isinstance(err, LimitExceeded):
        return CsError(wire.RESOURCE_LIMIT, err.detail, wire.CS_RESOURCE_ALLOCATION)
    if isinstance(err, errors.AddressesExhausted):
        return CsError(wire.INSUFFICIENT_CAPACITY, err.detail, wire.CS_INSUFFICIENT_ADDRESS)
    if isinstance(err, errors.InsufficientCapacity):
        return CsError(wire.INSUFFICIENT_CAPACITY, err.detail, wire.CS_INSUFFICIENT_CAPACITY)
    if isinstance(err, errors.InUse):
        return CsError(wire.RESOURCE_IN_USE, err.detail, wire.CS_IN_USE)
    if isinstance(err, errors.TooManyRequests):
        return CsError(wire.LIMIT_EXCEEDED, err.detail, wire.CS_SERVER_API)
    if isinstance(err, asyncpg.DataError):  # a value PostgreSQL cannot take as given
        return wire.param_error(f"a value cannot be stored: {err}")
    if isinstance(err, errors.ServiceUnavailable):
        return CsError(wire.RESOURCE_UNAVAILABLE, err.detail, wire.CS_UNAVAILABLE)
    if isinstance(err, errors.StratoError) and err.status < 500:
        return wire.param_error(err.detail)
    log.exception("CloudStack API: internal error", exc_info=err)
    return CsError(wire.INTERNAL, f"internal error: {type(err).__name__}", wire.CS_RUNTIME)


def _respond(
    command: str,
    body: dict[str, Any],
    fmt: str,
    status: int = 200,
    cookies: dict[str, str] | None = None,
) -> Response:
    name = wire.envelope_name(command)
    if fmt == "json":
        content, media = wire.to_json(name, body), "application/json;charset=UTF-8"
    else:
        content, media = wire.to_xml(name, body), "text/xml;charset=UTF-8"
    response = Response(content, status_code=status, media_type=media)
    for key, value in (cookies or {}).items():
        response.set_cookie(key, value, httponly=True, samesite="strict")
    return response


async def answer(request: Request, page_size: int = 500) -> Response:
    params: dict[str, str] = {}
    name = "error"
    try:
        items = await _items(request)
        params = wire.lowered(items)
        wire.check_names(items)
        name = params.get("command") or "error"
        if name.lower() == "login":
            from strato.services.cloudstack_api.accounts import login

            body, cookies = await login(request, _acl(request), params)
            return _respond("login", body, params.get("response", "xml").lower(), cookies=cookies)
        caller = await _caller(request, items, params)
        cmd = registry.REGISTRY.get(name.lower())
        if cmd is None:
            raise _unknown(name)
        scope.restrict(caller.owners)
        if cmd.admin and (caller.scope != "admin" or caller.owners is not None):
            raise _unknown(name)  # CloudStack hides admin commands from other roles
        ctx = _context(request, caller)
        if cmd.action:
            reads = cmd.name.startswith(("list", "get", "query"))
            try:
                await ctx.authorizer.authorize(
                    caller, Action(cmd.action, cmd.action.split(".")[0], None, mutating=not reads)
                )
            except errors.NotFound:
                raise _unknown(name) from None  # a read its role does not allow
        args = registry.convert(cmd, params)
        call = Call(cmd, args, params, ctx, page_size, request)
        body = await cmd.handler(call)
        return _respond(cmd.name, body, params.get("response", "xml").lower())
    except Exception as exc:  # every error is answered in CloudStack's envelope
        err = translate(exc)
        fmt = params.get("response", "xml").lower()
        known = name.lower() in registry.REGISTRY or name.lower() == "login"
        shown = name if known and err.code != wire.UNSUPPORTED else "error"
        failed = _respond(shown, wire.error_body(err), fmt, status=err.code)
        # CloudMonkey prints an error's text from this header
        failed.headers["X-Description"] = err.text.encode("ascii", "replace").decode()[:1024]
        return failed


def make_router(max_page_size: int) -> APIRouter:
    """The router mounting ``/client/api`` (and ``/client/api/``)."""
    router = APIRouter(tags=["cloudstack"], include_in_schema=False)

    async def client_api(request: Request) -> Response:
        return await answer(request, max_page_size)

    for path in ("/client/api", "/client/api/"):
        router.add_api_route(path, client_api, methods=["GET", "POST"])
    return router
