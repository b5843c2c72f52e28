from __future__ import annotations

import asyncio

import pytest

from strato.domain.errors import InUse, NameTaken, NotFound, PreconditionFailed
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.tables import PODS, ZONES


async def test_pagination_is_stable_under_concurrent_inserts(db: Database) -> None:
    async with db.tx() as conn:
        for i in range(25):
            await repository.insert(conn, ZONES, {"name": f"z{i:02d}"})
    seen: list[str] = []
    cursor = None
    inserted = 0
    while True:
        async with db.conn() as conn:
            page = await repository.list_page(conn, ZONES, {}, cursor=cursor, limit=4)
        seen += [z.name for z in page.items]
        async with db.tx() as conn:  # someone inserts while we page
            await repository.insert(conn, ZONES, {"name": f"late{inserted}"})
            inserted += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # no duplicates
    assert [n for n in seen if n.startswith("z")] == [f"z{i:02d}" for i in range(25)]


async def test_update_bumps_version_and_honours_expected_version(db: Database) -> None:
    async with db.tx() as conn:
        zone = await repository.insert(conn, ZONES, {"name": "zv"})
        updated = await repository.update(
            conn, ZONES, zone.id, {"description": "d"}, expected_version=1
        )
    assert updated.version == 2
    with pytest.raises(PreconditionFailed):
        async with db.tx() as conn:
            await repository.update(conn, ZONES, zone.id, {"description": "e"}, expected_version=1)


async def test_concurrent_creates_with_one_name_yield_one_row(db: Database) -> None:
    async def create() -> str:
        try:
            async with db.tx() as conn:
                await repository.insert(conn, ZONES, {"name": "same"})
            return "ok"
        except NameTaken:
            return "taken"

    results = await asyncio.gather(*(create() for _ in range(10)))
    assert sorted(results) == ["ok"] + ["taken"] * 9
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM zones WHERE name = 'same'") == 1
        assert (
            await conn.fetchval("SELECT count(*) FROM events WHERE type = 'strato.zone.created'")
            == 1
        )


async def test_delete_refuses_while_referenced_and_changes_nothing(db: Database) -> None:
    async with db.tx() as conn:
        zone = await repository.insert(conn, ZONES, {"name": "zd"})
        await repository.insert(conn, PODS, {"zone_id": zone.id, "name": "p"})
    with pytest.raises(InUse, match="pods"):
        async with db.tx() as conn:
            await repository.delete(conn, ZONES, zone.id)
    async with db.conn() as conn:
        assert (await repository.get(conn, ZONES, zone.id)).name == "zd"
        assert (
            await conn.fetchval("SELECT count(*) FROM events WHERE type = 'strato.zone.deleted'")
            == 0
        )


async def test_get_unknown_is_not_found(db: Database) -> None:
    import uuid

    async with db.conn() as conn:
        with pytest.raises(NotFound):
            await repository.get(conn, ZONES, uuid.uuid4())
