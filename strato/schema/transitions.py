"""The one guarded state writer: every change of a resource's state goes through here.

:func:`transition` locks the row, checks the move against the resource's state machine
(:mod:`strato.domain.states`), writes the state with any other columns, and appends its
event, all in the caller's transaction: a state and its event commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from strato.domain.errors import IllegalTransition, NotFound
from strato.domain.states import (
    HOST_STATUS,
    SNAPSHOT_STATE,
    TEMPLATE_STATE,
    VM_SNAPSHOT_STATE,
    VM_STATE,
    VOLUME_STATE,
    HostStatus,
    SnapshotState,
    StateMachine,
    TemplateState,
    VmSnapshotState,
    VmState,
    VolumeState,
)
from strato.schema import events

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Stateful(Generic[S]):
    """A resource kind with a state: its table, state column, enum and machine."""

    table: str
    kind: str  # the events' resource_type
    column: str
    states: type[S]
    machine: StateMachine[S]
    reason_key: str  # the event payload's key for why it moved


VM = Stateful("vms", "vm", "state", VmState, VM_STATE, "error")
HOST = Stateful("hosts", "host", "status", HostStatus, HOST_STATUS, "reason")
VOLUME = Stateful("volumes", "volume", "state", VolumeState, VOLUME_STATE, "reason")
SNAPSHOT = Stateful("snapshots", "snapshot", "state", SnapshotState, SNAPSHOT_STATE, "reason")
VM_SNAPSHOT = Stateful(
    "vm_snapshots", "vm_snapshot", "state", VmSnapshotState, VM_SNAPSHOT_STATE, "reason"
)
TEMPLATE = Stateful("templates", "template", "state", TemplateState, TEMPLATE_STATE, "reason")


@dataclass(frozen=True)
class Moved(Generic[S]):
    old: S
    new: S
    row: Any  # the row as written

    @property
    def changed(self) -> bool:
        return self.old != self.new


async def transition(
    conn: Any,
    resource: Stateful[S],
    id: UUID,
    target: S,
    *,
    expected: Collection[S] | None = None,
    operation_id: UUID | None = None,
    reason: str | None = None,
    columns: Mapping[str, Any] | None = None,
    machine: StateMachine[S] | None = None,
    event: str | None = None,
    payload: Mapping[str, Any] | None = None,
    locked: Any = None,
) -> Moved[S]:
    """Move ``resource`` ``id`` to ``target`` and write its event, in the caller's transaction.

    ``expected``: the states the caller requires it to be in now (IllegalTransition
    otherwise). ``machine``: a narrower machine than the resource's own (a host's report,
    a doctor's repair). ``columns`` are written with the state. A resource already at
    ``target`` gets its columns written and no event. ``event`` replaces the
    ``strato.<kind>.state_changed`` type; ``payload`` adds to it (with ``reason``).
    ``locked``: the row as the caller already read it FOR UPDATE (it is not read again).
    Raises NotFound or IllegalTransition, having written nothing.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("transition must run inside the changing transaction")
    # ``locked``: the row the caller already read FOR UPDATE in this transaction.
    row = locked
    if row is None:
        row = await conn.fetchrow(
            # NO KEY UPDATE: excludes every other writer of the row, but not the key-share
            # locks that inserts and updates of rows referencing it take (a VM's host_id,
            # a volume's pool_id): a row's state changes never wait on, or deadlock with,
            # the rows that point at it.
            f"SELECT * FROM {resource.table} WHERE id = $1 FOR NO KEY UPDATE",
            id,
        )
    if row is None:
        raise NotFound(f"{resource.kind} {id} does not exist", id=str(id))
    current = resource.states(row[resource.column])
    if expected is not None and current not in expected:
        raise IllegalTransition(
            f"{resource.kind} {id} is {current}, not {' or '.join(sorted(expected))}",
            current=str(current),
            target=str(target),
        )
    if current != target:
        (machine or resource.machine).check(current, target)
    elif not columns:
        return Moved(current, current, row)
    sets = [f"{resource.column} = $2", "version = version + 1", "updated_at = clock_timestamp()"]
    args: list[Any] = [id, target.value]
    for col, value in (columns or {}).items():
        args.append(value)
        sets.append(f"{col} = ${len(args)}")
    new = await conn.fetchrow(
        f"UPDATE {resource.table} SET {', '.join(sets)} WHERE id = $1 RETURNING *", *args
    )
    if current != target:
        body = dict(payload or {})
        if reason:
            body[resource.reason_key] = reason
        await events.append(
            conn,
            event or f"strato.{resource.kind}.state_changed",
            resource.kind,
            id,
            old_state=current,
            new_state=target,
            payload=body,
            operation_id=operation_id,
        )
    return Moved(current, target, new)
