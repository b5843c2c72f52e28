"""Errors the SDK raises: every API refusal is an :class:`ApiError` built from its RFC 9457
problem (``type``, ``title``, ``detail``, the extra members), of the subclass its status
names, so a caller catches what it can handle (``except NotFound``) and lets the rest go.
"""

from __future__ import annotations

from typing import Any


class StratoError(Exception):
    """Base of every error the SDK raises."""


class ApiError(StratoError):
    """The API refused a request. ``problem`` is the whole problem+json body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.type: str = str(problem.get("type", "about:blank"))
        self.title: str = str(problem.get("title", "error"))
        self.detail: str = str(problem.get("detail", ""))
        super().__init__(f"{status} {self.title}: {self.detail}".rstrip(": "))

    @property
    def code(self) -> str:
        """The problem type's last part (``not-found``, ``conflict``, ...)."""
        return self.type.rsplit("/", 1)[-1]


class BadRequest(ApiError):
    """400: the request could not be read."""


class Unauthorized(ApiError):
    """401: no key, an unknown or revoked key."""


class Forbidden(ApiError):
    """403: the key may not do this (a read-scoped key writing)."""


class NotFound(ApiError):
    """404: no such resource (or one the caller may not see)."""


class Conflict(ApiError):
    """409: the resource's state forbids it now (in use, locked, name taken, ...)."""


class PreconditionFailed(ApiError):
    """412: an ``If-Match`` that no longer matches."""


class PayloadTooLarge(ApiError):
    """413: the body is over the API's limit."""


class InvalidInput(ApiError):
    """422: the input is wrong; ``errors`` says where, when the API told."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        found = self.problem.get("errors")
        return list(found) if isinstance(found, list) else []


class RateLimited(ApiError):
    """429: too many at once (event streams per key, ...)."""


class ServerError(ApiError):
    """5xx: the platform failed; the request may be retried with the same idempotency key."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: RateLimited,
}


def api_error(status: int, problem: dict[str, Any]) -> ApiError:
    """The error of the class ``status`` names (5xx: ServerError; others: ApiError)."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, problem)


class OperationFailed(StratoError):
    """An operation ended failed or cancelled; ``operation`` is its final view."""

    def __init__(self, operation: dict[str, Any]) -> None:
        self.operation = operation
        error = operation.get("error") or {}
        reason = error.get("message") if isinstance(error, dict) else error
        super().__init__(
            f"{operation.get('kind', 'operation')} {operation.get('id')} "
            f"{operation.get('state')}: {reason or operation.get('detail') or 'no reason given'}"
        )


class WaitTimeout(StratoError, TimeoutError):
    """A wait ran out of time; the operation (or resource) goes on."""
