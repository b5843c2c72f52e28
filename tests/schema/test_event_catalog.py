"""The event catalog is the whole vocabulary: the outbox refuses anything else, every type
the code writes is in it, and docs/events.md says what it says."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from strato.domain import events as catalog
from strato.schema import events
from strato.schema.db import Database

ROOT = Path(__file__).resolve().parents[2]


async def test_an_unknown_type_is_refused_and_nothing_is_written(db: Database) -> None:
    with pytest.raises(ValueError, match="not in the catalog"):
        async with db.tx() as conn:
            await events.append(conn, "strato.vm.teleported", "vm", uuid.uuid4())
    with pytest.raises(ValidationError):
        async with db.tx() as conn:
            await events.append(
                conn, "strato.vm.scaled", "vm", uuid.uuid4(), payload={"cpu_count": "many"}
            )
    async with db.conn() as conn:
        assert await events.list_after(conn, 0) == []


async def test_a_catalogued_event_is_written(db: Database) -> None:
    async with db.tx() as conn:
        await events.append(
            conn,
            "strato.ip.allocated",
            "vm",
            uuid.uuid4(),
            payload={"ip": "10.0.0.2", "network": "n"},
        )
    async with db.conn() as conn:
        (ev,) = await events.list_after(conn, 0)
    assert ev.type == "strato.ip.allocated" and ev.payload["ip"] == "10.0.0.2"


def test_every_event_type_named_in_the_code_is_catalogued() -> None:
    literal = re.compile(r"[\"'](strato\.[a-z_]+\.[a-z_]+)[\"']")
    named = set()
    for path in (ROOT / "strato").rglob("*.py"):
        for m in literal.finditer(path.read_text()):
            if not m.group(1).startswith(
                ("strato.activities.", "strato.drivers.", "strato.schema.", "strato.sdk.")
            ):
                named.add(m.group(1))
    assert "strato.vm.drift" in named and "strato.doctor.repaired" in named
    missing = {t for t in named if catalog.lookup(t) is None}
    assert not missing, f"event types written but not catalogued: {sorted(missing)}"


def test_registering_a_type_twice_differently_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        catalog.register(
            catalog.EventType("strato.vm.rebooted", "vm", catalog.Named, "something else")
        )


def test_docs_list_the_catalog() -> None:
    # A fresh interpreter: tests here register types of their own.
    out = subprocess.run(
        [sys.executable, "-m", "strato.domain.events"], capture_output=True, text=True, check=True
    ).stdout
    assert (ROOT / "docs" / "events.md").read_text() == out, (
        "docs/events.md is stale: python -m strato.domain.events > docs/events.md"
    )
