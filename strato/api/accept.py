"""Accepting an asynchronous request: intent + operation in one transaction, then start.

``Idempotency-Key``: requests carrying the same key are serialized by an advisory lock
on the key; a repeat of the same request returns the first operation, a different
request with a used key gets 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from strato import operations
from strato.domain.errors import Conflict
from strato.schema import operations as ops_repo
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.settings import Settings

Build = Callable[[Any], Awaitable[OperationRecord]]


class Accepted(BaseModel):
    operation: operations.OperationView
    resource: dict[str, Any] | None = None


async def accept(
    db: Database,
    temporal: Client,
    *,
    idempotency_key: str | None,
    body: Any,
    build: Build,
) -> tuple[OperationRecord, bool]:
    """Run ``build`` (which writes intent and calls ``operations.record``) unless the
    key was seen; start the workflow. Returns (operation, created_now)."""
    async with db.tx() as conn:
        if idempotency_key is not None:
            await ops_repo.lock_key(conn, idempotency_key)
            existing = await ops_repo.find_by_key(conn, idempotency_key)
            if existing is not None:
                if existing.request_hash != operations.request_hash(body):
                    raise Conflict(
                        "Idempotency-Key was already used for a different request",
                        operation_id=str(existing.id),
                    )
                created = False
                record = existing
            else:
                created = True
                record = await build(conn)
        else:
            created = True
            record = await build(conn)
    run_id = await operations.start(db, temporal, record, fresh=created)
    return record.model_copy(update={"run_id": run_id}), created


async def respond(
    temporal: Client,
    settings: Settings,
    record: OperationRecord,
    resource: BaseModel | None,
    *,
    created: bool = True,
) -> dict[str, Any]:
    """The 202 body. A repeated (idempotent) request shows the operation's real state."""
    ui = settings.resolved_temporal_ui_url()
    if created:
        view = operations.accepted_view(temporal.namespace, record, ui_url=ui)
    else:
        view = await operations.view(temporal, record, ui_url=ui)
    return Accepted(
        operation=view, resource=resource.model_dump(mode="json") if resource else None
    ).model_dump(mode="json")
