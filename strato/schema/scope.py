"""Whose rows a request may see: the owners of the caller behind it.

A front door opens a :func:`request` scope around each request and narrows it once it
knows the caller (:func:`restrict`). The repository reads it (:func:`owners`) for every
table whose rows have an owner (``TableSpec.owner``): a list holds only the caller's
rows, and another owner's row is a 404, the same answer as a row that does not exist
(no existence leak). Outside a request (workers, the sweep, tests reading the database)
nothing is narrowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Scope:
    owners: frozenset[str] | None = None  # None: every owner


_current: ContextVar[Scope | None] = ContextVar("strato_request_scope", default=None)


@contextlib.contextmanager
def request() -> Iterator[Scope]:
    """A fresh, unnarrowed scope for one request (undone when it ends)."""
    scope = Scope()
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def restrict(owners: frozenset[str] | None) -> None:
    """Narrow the current request to ``owners`` (outside a request: refused, so a
    narrowing is never silently lost)."""
    scope = _current.get()
    if scope is None:
        if owners is None:
            return
        raise RuntimeError("scope.restrict outside a request scope")
    scope.owners = owners


def owners() -> frozenset[str] | None:
    scope = _current.get()
    return None if scope is None else scope.owners
