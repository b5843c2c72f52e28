"""What a command runs with: the stores, the engine, the settings, the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel
from temporalio.client import Client

from strato.commands.auth import Action, ApiKeyScopes, Authorizer, Caller
from strato.commands.limits import Limits, installed
from strato.commands.operations import accept, record
from strato.commands.view import Accepted, respond
from strato.domain.errors import NotFound
from strato.domain.ids import workflow_id
from strato.schema import owned, repository
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.schema.repository import TableSpec
from strato.settings import Settings

B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class Intake:
    """One request being accepted: what its operation row is bound to (the
    Idempotency-Key and the request body) and the queue its workflow runs on."""

    idempotency_key: str | None
    request_body: Any
    task_queue: str

    async def record(
        self,
        conn: Any,
        *,
        operation_id: UUID,
        resource_type: str,
        resource_id: UUID,
        verb: str,
        workflow_type: str,
        input: BaseModel,
        attributes: dict[str, str],
    ) -> OperationRecord:
        """Record the operation ``<resource_type>.<verb>`` in the caller's transaction,
        with its own workflow id and the search attributes an SRE finds it by."""
        return await record(
            conn,
            id=operation_id,
            kind=f"{resource_type}.{verb}",
            resource_type=resource_type,
            resource_id=resource_id,
            workflow_id=workflow_id(resource_type, verb, resource_id, operation_id),
            workflow_type=workflow_type,
            input=input,
            search_attributes={
                "StratoResourceType": resource_type,
                "StratoResourceId": str(resource_id),
                "StratoOperation": verb,
                **attributes,
            },
            task_queue=self.task_queue,
            idempotency_key=self.idempotency_key,
            request_body=self.request_body,
        )


Build = Callable[[Any, Intake], Awaitable[OperationRecord]]


@dataclass
class CommandContext:
    """Built once per request by a front door (REST, CloudStack API, SDK services)."""

    db: Database
    temporal: Client
    settings: Settings
    caller: Caller
    authorizer: Authorizer = field(default_factory=ApiKeyScopes)
    limits: Limits = field(default_factory=installed)

    @property
    def caller_scope(self) -> str:
        """Whose Idempotency-Keys these are: the API key's id, else the caller's name."""
        return str(self.caller.key_id) if self.caller.key_id is not None else self.caller.name

    async def authorize(self, action: Action) -> None:
        """The installed authorizer's decision (403), then, for a caller that sees only
        some owners, that the resource acted on is one of theirs: another owner's is a
        404, as a missing one is (no existence leak)."""
        await self.authorizer.authorize(self.caller, action)
        owners = self.caller.owners
        if owners is None or action.resource_id is None:
            return
        async with self.db.conn() as conn:
            seen = await owned.visible_to(
                conn, action.resource_type, action.resource_id, owners, write=action.mutating
            )
        if not seen:
            kind = action.resource_type.replace("_", " ").replace("-", " ")
            raise NotFound(
                f"{kind} {action.resource_id} does not exist", id=str(action.resource_id)
            )

    def owned_by_caller(self, body: B) -> B:
        """``body`` with the owner its new resource gets (:meth:`Caller.owner_for`)."""
        owner = self.caller.owner_for(getattr(body, "owner", None))
        return body.model_copy(update={"owner": owner})

    async def take(
        self, conn: Any, owner: str, resource: str, amount: int = 1, *, pending: bool = False
    ) -> None:
        """Count ``amount`` of ``resource`` against ``owner`` (the installed limits),
        in the command's transaction once its rows are written (``pending``: its
        workflow writes them)."""
        await self.limits.take(conn, self.caller, owner, resource, amount, pending=pending)

    async def run(
        self,
        *,
        idempotency_key: str | None,
        request_body: Any,
        build: Build,
        resource: TableSpec[Any],
    ) -> Accepted:
        """Accept an operation (``build`` writes its intent and lock, and records the
        operation through the :class:`Intake`, in one transaction), start it, and answer
        with its view and its resource.

        ``request_body`` is what an Idempotency-Key is bound to: a repeat with the same
        key and body returns the first operation, a different body is refused."""
        # A key is the caller's own: the same key from another caller is another request,
        # and can neither replay nor reveal the first caller's operation.
        scoped = None if idempotency_key is None else f"{self.caller_scope}/{idempotency_key}"
        intake = Intake(scoped, request_body, self.settings.orchestration_queue)
        op, created = await accept(
            self.db,
            self.temporal,
            idempotency_key=scoped,
            body=request_body,
            build=lambda conn: build(conn, intake),
        )
        async with self.db.conn() as conn:
            row = await repository.get(conn, resource, op.resource_id) if op.resource_id else None
        return await respond(self.temporal, self.settings, op, row, created=created, db=self.db)
