"""A repository per table, built from a declarative :class:`TableSpec`.

The fabric and catalog tables share one shape (uuid key, version, timestamps, state), so
one implementation serves them all; tables with richer behaviour (hosts' capacity, VMs'
transitions) add functions in their own modules on top of it.

Every write runs in the caller's transaction and appends its event row there too.
Database errors are translated into domain errors here, so nothing above sees asyncpg.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from strato.domain.errors import (
    InUse,
    InvalidInput,
    LocationTaken,
    NameTaken,
    NotFound,
    PreconditionFailed,
)
from strato.schema import events, scope

M = TypeVar("M", bound=BaseModel)

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class TableSpec(Generic[M]):
    """How one resource maps to one table."""

    table: str
    resource_type: str
    model: type[M]
    state_column: str | None = "state"
    # column -> human name of the parent it references (for 404s on bad references)
    references: Mapping[str, str] = field(default_factory=dict)
    # table that references this one -> how to say it in a 409 on delete
    dependents: Mapping[str, str] = field(default_factory=dict)
    # The SQL expression of a row's owner (its ``owner`` column, or its parent's): a
    # request narrowed to some owners (strato.schema.scope) sees only their rows, and
    # the rows ``shared`` (an SQL condition) holds for.
    owner: str | None = None
    shared: str | None = None

    def __post_init__(self) -> None:
        for name in (self.table, *self.references):
            if not _IDENT.match(name):
                raise ValueError(f"not an SQL identifier: {name!r}")

    @property
    def columns(self) -> list[str]:
        return list(self.model.model_fields)

    def to_model(self, row: Mapping[str, Any]) -> M:
        return self.model.model_validate(dict(row))


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None


def encode_cursor(created_at: datetime, id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    refused = InvalidInput("cursor is not one this API returned", field="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:  # not base64, not UTF-8, not JSON
        raise refused from exc
    if not (
        isinstance(decoded, list)
        and len(decoded) == 2
        and all(isinstance(part, str) for part in decoded)
    ):
        raise refused
    try:
        created_at, id_ = datetime.fromisoformat(decoded[0]), UUID(decoded[1])
    except ValueError as exc:
        raise refused from exc
    if created_at.tzinfo is None:  # ours carry their offset; a naive one cannot be compared
        raise refused
    try:  # an offset that takes the instant outside datetime's range
        created_at = created_at.astimezone(UTC)
    except OverflowError as exc:
        raise refused from exc
    return created_at, id_


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not an SQL identifier: {name!r}")
    return name


def translate(
    spec: TableSpec[Any], exc: asyncpg.PostgresError, values: Mapping[str, Any]
) -> Exception:
    """Map an integrity error to the domain error a user can act on."""
    constraint = getattr(exc, "constraint_name", "") or ""
    if isinstance(exc, asyncpg.UniqueViolationError) and constraint.endswith("_url_idx"):
        return LocationTaken(
            f"url: another {spec.resource_type} is at {values.get('url')!r} already (one "
            "location, one owner: each would take the other's files for its own)",
            constraint=constraint,
            field="url",
        )
    if isinstance(exc, asyncpg.UniqueViolationError):
        name = values.get("name")
        what = f" named {name!r}" if name is not None else ""
        return NameTaken(
            f"a {spec.resource_type}{what} already exists ({constraint})", constraint=constraint
        )
    if isinstance(exc, asyncpg.ForeignKeyViolationError | asyncpg.RestrictViolationError):
        table_name = getattr(exc, "table_name", "") or ""
        if table_name and table_name != spec.table:
            # Someone else's row points at ours: we are being deleted while in use.
            what = spec.dependents.get(table_name, table_name)
            return InUse(
                f"{spec.resource_type} is still used by {what}; remove those first",
                dependent=table_name,
            )
        for column, parent in spec.references.items():
            if constraint.startswith(f"{spec.table}_{column}"):
                return InvalidInput(f"{parent} {values.get(column)} does not exist", field=column)
        return InvalidInput(f"a referenced resource does not exist ({constraint})")
    if isinstance(exc, asyncpg.CheckViolationError):
        return InvalidInput(f"{spec.resource_type} violates {constraint}", constraint=constraint)
    if isinstance(exc, asyncpg.DataError):
        return InvalidInput(f"invalid value for {spec.resource_type}: {exc}")
    return RuntimeError(f"database error on {spec.table}: {exc}")


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


async def owner_of(
    conn: Any, spec: TableSpec[Any], id: UUID, row: Mapping[str, Any] | None = None
) -> str | None:
    """The row's owner (by ``spec.owner``), for its events: None if it has none. Read
    from ``row`` when the owner is its own column (no query)."""
    if spec.owner is None:
        return None
    if spec.owner == "owner" and row is not None:
        own = row["owner"]
    else:
        own = await conn.fetchval(f"SELECT {spec.owner} FROM {spec.table} WHERE id = $1", id)
    return None if own is None else str(own)


async def insert(
    conn: Any,
    spec: TableSpec[M],
    values: Mapping[str, Any],
    *,
    operation_id: UUID | None = None,
) -> M:
    """Insert one row (a fresh uuid unless ``values`` has ``id``) and its ``created`` event."""
    data = {"id": uuid4(), **values}
    cols = [_check_ident(c) for c in data]
    params = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    sql = f"INSERT INTO {spec.table} ({', '.join(cols)}) VALUES ({params}) RETURNING *"
    try:
        async with conn.transaction():
            row = await conn.fetchrow(sql, *data.values())
    except asyncpg.PostgresError as exc:
        raise translate(spec, exc, data) from exc
    entity = spec.to_model(row)
    state = row[spec.state_column] if spec.state_column else None
    await events.append(
        conn,
        f"strato.{spec.resource_type}.created",
        spec.resource_type,
        row["id"],
        new_state=state,
        payload={
            "name": row.get("name"),
            **{k: _text(row[k]) for k in ("size_bytes", "service_offering_id") if row.get(k)},
        },
        operation_id=operation_id,
        owner=await owner_of(conn, spec, row["id"], row),
    )
    return entity


def visible(spec: TableSpec[Any], args: list[Any]) -> str | None:
    """The condition (appending its parameter to ``args``) that narrows ``spec``'s rows
    to the current request's owners; ``None`` when nothing narrows them."""
    owners = scope.owners()
    if owners is None or spec.owner is None:
        return None
    args.append(sorted(owners))
    own = f"coalesce({spec.owner}, '') = ANY(${len(args)}::text[])"
    return f"({own} OR {spec.shared})" if spec.shared else own


async def get(conn: Any, spec: TableSpec[M], id: UUID, *, for_update: bool = False) -> M:
    lock = " FOR UPDATE" if for_update else ""
    args: list[Any] = [id]
    narrowed = visible(spec, args)
    mine = f" AND {narrowed}" if narrowed else ""
    row = await conn.fetchrow(f"SELECT * FROM {spec.table} WHERE id = $1{mine}{lock}", *args)
    if row is None:
        raise NotFound(f"{spec.resource_type} {id} does not exist", id=str(id))
    return spec.to_model(row)


async def find_by_name(conn: Any, spec: TableSpec[M], name: str) -> M | None:
    args: list[Any] = [name]
    narrowed = visible(spec, args)
    mine = f" AND {narrowed}" if narrowed else ""
    row = await conn.fetchrow(f"SELECT * FROM {spec.table} WHERE name = $1{mine} LIMIT 1", *args)
    return spec.to_model(row) if row is not None else None


async def list_page(
    conn: Any,
    spec: TableSpec[M],
    filters: Mapping[str, Any],
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[M]:
    """One page in (created_at, id) order; a cursor stays valid while rows are inserted."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in filters.items():
        if value is None:
            continue
        args.append(value)
        if isinstance(value, Sequence) and not isinstance(value, str):
            where.append(f"{_check_ident(column)} && ${len(args)}")
        else:
            where.append(f"{_check_ident(column)} = ${len(args)}")
    narrowed = visible(spec, args)
    if narrowed:
        where.append(narrowed)
    if cursor:
        ts, last = decode_cursor(cursor)
        args.extend([ts, last])
        where.append(f"(created_at, id) > (${len(args) - 1}, ${len(args)})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    args.append(limit + 1)
    sql = f"SELECT * FROM {spec.table} {clause} ORDER BY created_at, id LIMIT ${len(args)}"
    rows = await conn.fetch(sql, *args)
    items = [spec.to_model(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        tail = rows[limit - 1]
        next_cursor = encode_cursor(tail["created_at"], tail["id"])
    return Page(items, next_cursor)


async def update(
    conn: Any,
    spec: TableSpec[M],
    id: UUID,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    operation_id: UUID | None = None,
) -> M:
    """Apply ``changes``, bump ``version``; write ``updated`` (and ``state_changed``) events."""
    args: list[Any] = [id]
    narrowed = visible(spec, args)  # another owner's row: a 404, as a missing one is
    mine = f" AND {narrowed}" if narrowed else ""
    current = await conn.fetchrow(
        f"SELECT * FROM {spec.table} WHERE id = $1{mine} FOR UPDATE", *args
    )
    if current is None:
        raise NotFound(f"{spec.resource_type} {id} does not exist", id=str(id))
    if expected_version is not None and current["version"] != expected_version:
        raise PreconditionFailed(
            f"{spec.resource_type} {id} is at version {current['version']}, "
            f"not {expected_version}; re-read it and retry",
            current_version=current["version"],
        )
    changed = {k: v for k, v in changes.items() if current[_check_ident(k)] != v}
    if not changed:
        return spec.to_model(current)
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changed, start=2))
    sql = (
        f"UPDATE {spec.table} SET {sets}, version = version + 1, updated_at = clock_timestamp() "
        "WHERE id = $1 RETURNING *"
    )
    try:
        async with conn.transaction():
            row = await conn.fetchrow(sql, id, *changed.values())
    except asyncpg.PostgresError as exc:
        raise translate(spec, exc, {**dict(current), **changed}) from exc
    owner = await owner_of(conn, spec, id, row)
    await events.append(
        conn,
        f"strato.{spec.resource_type}.updated",
        spec.resource_type,
        id,
        payload={"changed": sorted(changed)},
        operation_id=operation_id,
        owner=owner,
    )
    sc = spec.state_column
    if sc and sc in changed:
        await events.append(
            conn,
            f"strato.{spec.resource_type}.state_changed",
            spec.resource_type,
            id,
            old_state=current[sc],
            new_state=row[sc],
            operation_id=operation_id,
            owner=owner,
        )
    return spec.to_model(row)


async def delete(conn: Any, spec: TableSpec[M], id: UUID, *, operation_id: UUID | None = None) -> M:
    """Delete one row; refuse with :class:`InUse` while anything references it."""
    entity = await get(conn, spec, id, for_update=True)
    owner = await owner_of(conn, spec, id, entity.model_dump())  # still its owner's
    try:
        async with conn.transaction():
            await conn.execute(f"DELETE FROM {spec.table} WHERE id = $1", id)
    except asyncpg.PostgresError as exc:
        raise translate(spec, exc, {}) from exc
    await events.append(
        conn,
        f"strato.{spec.resource_type}.deleted",
        spec.resource_type,
        id,
        payload={"name": getattr(entity, "name", None)},
        operation_id=operation_id,
        owner=owner,
    )
    return entity
