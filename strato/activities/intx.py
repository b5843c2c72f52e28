"""The base of data-service activity classes: one step, one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from strato.domain.errors import StratoError
from strato.schema.db import Database

T = TypeVar("T")


def permanent(err: StratoError) -> ApplicationError:
    """A domain error is a fact, not a hiccup: retrying cannot change it."""
    return ApplicationError(err.detail, type=err.type, non_retryable=True)


class InTransaction:
    """Base of data-service activity classes: ``_tx`` runs one step in one transaction,
    a domain error becoming a non-retryable failure."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _tx(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        try:
            async with self.db.tx() as conn:
                return await fn(conn)
        except StratoError as err:
            raise permanent(err) from err
