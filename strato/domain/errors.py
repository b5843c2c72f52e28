"""Errors a user can act on.

    StratoError
    ├── NotFound            404: an id or name that does not exist
    ├── Conflict            409: the request contradicts the current state
    │   ├── NameTaken       409: a unique name is already used
    │   ├── InUse           409: the resource still has dependents
    │   ├── IllegalTransition 409: the state machine forbids the move
    │   ├── LocationTaken   409: a pool or image store's url belongs to another
    │   └── InsufficientCapacity 409: no host, pool or address can take it
    │       └── AddressesExhausted / SegmentsExhausted 409: no free address / segment id
    ├── PreconditionFailed  412: If-Match version mismatch
    ├── InvalidInput        422: well-formed but semantically wrong input
    ├── PayloadTooLarge / RequestTimeout 413 / 408: an upload too large, or stalled
    ├── Unauthorized / Forbidden 401 / 403
    └── TooManyRequests     429: a per-caller bound is reached

Each carries a stable ``type`` slug used for RFC 9457 problem documents and for
Temporal ``ApplicationError`` types, so the same error reads the same everywhere.
"""

from __future__ import annotations

from typing import Any


class StratoError(Exception):
    status: int = 500
    type: str = "internal-error"
    title: str = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(StratoError):
    status = 404
    type = "not-found"
    title = "Resource not found"


class Conflict(StratoError):
    status = 409
    type = "conflict"
    title = "Conflict with the current state"


class NameTaken(Conflict):
    type = "name-taken"
    title = "Name already in use"


class LocationTaken(Conflict):
    type = "location-taken"
    title = "Location already in use"


class InUse(Conflict):
    type = "in-use"
    title = "Resource still in use"


class IllegalTransition(Conflict):
    type = "illegal-transition"
    title = "State transition not allowed"


class InsufficientCapacity(Conflict):
    type = "insufficient-capacity"
    title = "Not enough capacity"


class AddressesExhausted(InsufficientCapacity):
    type = "addresses-exhausted"
    title = "No free address"


class SegmentsExhausted(InsufficientCapacity):
    type = "segments-exhausted"
    title = "No free segment id"


class PreconditionFailed(StratoError):
    status = 412
    type = "version-mismatch"
    title = "Resource version does not match If-Match"


class InvalidInput(StratoError):
    status = 422
    type = "invalid-input"
    title = "Invalid input"


class PayloadTooLarge(StratoError):
    status = 413
    type = "payload-too-large"
    title = "Request body too large"


class RequestTimeout(StratoError):
    status = 408
    type = "request-timeout"
    title = "Request body too slow"


class Unauthorized(StratoError):
    status = 401
    type = "unauthorized"
    title = "Missing or invalid API key"


class Forbidden(StratoError):
    status = 403
    type = "forbidden"
    title = "API key scope does not allow this"


class TooManyRequests(StratoError):
    status = 429
    type = "too-many-requests"
    title = "Too many concurrent requests of this kind for this API key"


class ServiceUnavailable(StratoError):
    status = 503
    type = "service-unavailable"
    title = "A service this request depends on is unavailable"
