"""What the doctor finds, and how a finding's fix is applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from strato.domain.fabric.payloads import HostVm, PoolVolume
from strato.schema.db import Database
from strato.schema.fabric import audit

T = TypeVar("T")

# A fix: given a connection in its own transaction, lock, re-check, act; True if it acted.
Fix = Callable[[Any], Awaitable[bool]]


@dataclass
class Finding:
    check: str
    resource: str
    detail: str
    fix: str
    repaired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Undefine:
    """A domain no VM owns, and the evidence re-checked under lock before it is undefined:
    the VM row its uuid names (None: not a uuid) and that row's ``change_seq`` when read
    (None: there was no row)."""

    finding: Finding
    target: HostVm
    vm_id: UUID | None
    change_seq: int | None


@dataclass
class Delete:
    """A volume file no record owns; re-checked under its pool's lock before deletion."""

    finding: Finding
    target: PoolVolume


@dataclass
class DriverRepairs:
    """Fixes only an agent can apply: undefine domains, delete volumes nothing owns."""

    undefine: list[Undefine] = field(default_factory=list)
    delete: list[Delete] = field(default_factory=list)


class Checks:
    """The findings of one run, and (with ``repair``) the fixes applied as they are found."""

    def __init__(self, db: Database, *, repair: bool) -> None:
        self.db = db
        self.repair = repair
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    async def read(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one of the schema layer's audit reads."""
        async with self.db.conn() as conn:
            return await query(conn, *args)

    async def found(
        self,
        check: str,
        resource_type: str,
        resource_id: UUID | None,
        resource: str,
        detail: str,
        fix: str,
        apply: Fix | None,
    ) -> None:
        """Record a discrepancy; when repairing, apply its fix in its own transaction.
        ``apply`` returns False when the re-check under lock finds nothing to fix."""
        finding = Finding(check, resource, detail, fix)
        self.findings.append(finding)
        if not self.repair or apply is None:
            return
        async with self.db.tx() as conn:
            if await apply(conn):
                await audit.record_repair(
                    conn,
                    check=check,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    detail=detail,
                    fix=fix,
                )
                finding.repaired = True
