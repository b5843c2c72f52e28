"""One CloudStack command being answered: its arguments, its caller, and the helpers
its handler needs (paging, whose rows it lists, its async job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from strato.commands.context import CommandContext
from strato.commands.view import Accepted
from strato.schema import scope
from strato.services.cloudstack_api.registry import Command
from strato.services.cloudstack_api.schema import jobs
from strato.services.cloudstack_api.wire import param_error


@dataclass
class Call:
    cmd: Command
    args: dict[str, Any]
    params: dict[str, str]
    ctx: CommandContext
    max_page_size: int = 500
    request: Any = None  # the HTTP request (the ACL's functions take it)

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)

    @property
    def principal(self) -> Any:
        return self.ctx.caller.principal

    @property
    def account_id(self) -> str:
        """The caller's own account (owner) id; '' for the core's admin keys."""
        return self.ctx.caller.owner or ""

    def page(self) -> tuple[int, int]:
        """``(offset, limit)`` from ``page`` (from 1) and ``pagesize`` (at most the
        configured maximum; -1: every row up to it)."""
        size = self.args.get("pagesize")
        number = self.args.get("page")
        top = self.max_page_size
        if size is None or size == -1:
            size = top
        elif not 1 <= size <= top:
            raise param_error(
                f"Page size can't exceed max allowed page size value: {top}"
                if size > top
                else f"pagesize {size} is invalid: it must be between 1 and {top}, or -1"
            )
        if number is None:
            number = 1
        elif number < 1:
            raise param_error(f"page {number} is invalid: pages are numbered from 1")
        return (number - 1) * size, size

    def owners(self) -> list[str] | None:
        """Whose rows a list holds: the caller's visible owners, narrowed as CloudStack
        narrows (without ``listall=true`` an account's own rows only, unless an
        ``account``/``domainid`` is named); None: everyone's."""
        visible = scope.owners()
        named = self.args.get("account") is not None or self.args.get("domainid") is not None
        if self.args.get("listall") or named or self.principal is None:
            return None if visible is None else sorted(visible)
        return [self.account_id] if self.account_id else None

    async def job(
        self,
        accepted: Accepted | UUID | None,
        instance_type: str,
        instance_id: UUID | None,
        *,
        owner: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record this command's async job (on the Strato operation it started, if
        any) and answer ``{"jobid": ..., "id": ...}`` at once."""
        op_id = accepted.operation.id if isinstance(accepted, Accepted) else accepted
        async with self.ctx.db.tx() as conn:
            job_id = await jobs.create(
                conn,
                operation_id=op_id,
                command=self.cmd.name,
                owner=owner if owner is not None else self.account_id,
                user_id=str(getattr(self.principal, "user_id", "") or ""),
                instance_type=instance_type,
                instance_id=instance_id,
                item=self.cmd.item,
                result=result,
            )
        answer: dict[str, Any] = {"jobid": str(job_id)}
        creates = self.cmd.name.startswith(("deploy", "create", "associate"))
        if instance_id is not None and creates and self.cmd.name != "createTags":
            answer["id"] = str(instance_id)
        return answer
