"""What a command runs with: the stores, the engine, the settings, the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from strato.commands.auth import Action, ApiKeyScopes, Authorizer, Caller
from strato.commands.operations import accept
from strato.commands.view import Accepted, respond
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.schema.repository import TableSpec
from strato.settings import Settings

Build = Callable[[Any], Awaitable[OperationRecord]]


@dataclass
class CommandContext:
    """Built once per request by a front door (REST, CloudStack API, SDK services)."""

    db: Database
    temporal: Client
    settings: Settings
    caller: Caller
    authorizer: Authorizer = field(default_factory=ApiKeyScopes)

    async def authorize(self, action: Action) -> None:
        await self.authorizer.authorize(self.caller, action)

    async def run(
        self,
        *,
        idempotency_key: str | None,
        request_body: Any,
        build: Build,
        resource: TableSpec[Any],
    ) -> Accepted:
        """Accept an operation (``build`` writes its intent, lock and row in one
        transaction), start it, and answer with its view and its resource.

        ``request_body`` is what an Idempotency-Key is bound to: a repeat with the same
        key and body returns the first operation, a different body is refused."""
        record, created = await accept(
            self.db,
            self.temporal,
            idempotency_key=idempotency_key,
            body=request_body,
            build=build,
        )
        async with self.db.conn() as conn:
            row = (
                await repository.get(conn, resource, record.resource_id)
                if record.resource_id
                else None
            )
        return await respond(self.temporal, self.settings, record, row, created=created)
