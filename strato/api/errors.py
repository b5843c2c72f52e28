"""RFC 9457 problem+json for every error, and request-size guards.

No bad input reaches a handler as a 500: validation errors are 422, oversized bodies 413,
too-deeply-nested JSON 422, unknown routes 404, wrong methods 405.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strato.domain.errors import StratoError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem(
    status: int, type_: str, title: str, detail: str, instance: str = "", **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{type_}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


_HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(StratoError)
    async def _strato(request: Request, exc: StratoError) -> JSONResponse:
        extra = {k: _jsonable(v) for k, v in exc.extra.items()}
        return problem(exc.status, exc.type, exc.title, exc.detail, request.url.path, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] or first["loc"])
        detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        return problem(
            422, "invalid-input", "Invalid input", detail, request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        return problem(exc.status_code, slug, title, str(exc.detail), request.url.path)

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # Raised by the statement that would have stored it: its transaction rolls back.
        return problem(
            422,
            "invalid-input",
            "Invalid input",
            "text contains a character that cannot be stored (such as NUL, U+0000)",
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal-error",
            "Internal error",
            "an unexpected error occurred; see the API log",
            request.url.path,
        )


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if the JSON text nests deeper than ``limit`` (checked before parsing it)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (413), JSON nested over ``max_depth`` (422), and
    bodies that do not arrive within ``timeout_s`` (408: a slow client cannot hold a
    worker forever). The ``streamed`` paths (uploads) pass unbuffered: their handlers
    bound size and pace themselves."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_depth: int,
        timeout_s: float = 30.0,
        streamed: tuple[str, ...] = (),
    ) -> None:
        self.streamed = frozenset(streamed)
        self.timeout_s = timeout_s
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE")
            or scope.get("path") in self.streamed
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(
                scope,
                send,
                413,
                "payload-too-large",
                "Request body too large",
                f"body of {int(length)} bytes exceeds the {self.max_bytes}-byte limit",
            )
            return
        body = b""
        more = True
        try:
            async with asyncio.timeout(self.timeout_s):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
                    if len(body) > self.max_bytes:
                        await self._reject(
                            scope,
                            send,
                            413,
                            "payload-too-large",
                            "Request body too large",
                            f"body exceeds the {self.max_bytes}-byte limit",
                        )
                        return
        except TimeoutError:
            await self._reject(
                scope,
                send,
                408,
                "request-timeout",
                "Request body too slow",
                f"the body did not arrive within {self.timeout_s:g}s",
            )
            return
        if json_depth_exceeds(body, self.max_depth):
            await self._reject(
                scope,
                send,
                422,
                "invalid-input",
                "Invalid input",
                f"JSON nested deeper than {self.max_depth} levels",
            )
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(
        self, scope: Scope, send: Send, status: int, slug: str, title: str, detail: str
    ) -> None:
        response = problem(status, slug, title, detail, scope.get("path", ""))
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; extra members name the field or resource.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
# What any operation may answer besides its success (health answers none of the auth ones).
COMMON_ERRORS = {
    "401": "Missing or invalid API key",
    "403": "The key's scope does not allow this",
    "408": "The request body did not arrive in time",
    "413": "Request body too large",
    "422": "Invalid input (parameters, body, JSON depth)",
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API does: every error is
    ``application/problem+json`` with the Problem schema (FastAPI documents its own
    validation error shape as ``application/json``, which we never send)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        for schema in ("HTTPValidationError", "ValidationError"):
            doc["components"]["schemas"].pop(schema, None)
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for code, description in COMMON_ERRORS.items():
                    responses.setdefault(code, {"description": description})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = content
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
