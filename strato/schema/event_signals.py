"""Workflows' event subscriptions (:mod:`strato.domain.event_signals`)."""

from __future__ import annotations

from typing import Any

from strato.domain.event_signals import EventSignal
from strato.schema.repository import TableSpec

EVENT_SIGNALS = TableSpec("event_signals", "event_signal", EventSignal, state_column=None)


async def every(conn: Any) -> list[EventSignal]:
    rows = await conn.fetch("SELECT * FROM event_signals ORDER BY created_at, id")
    return [EVENT_SIGNALS.to_model(r) for r in rows]


async def forget_workflow(conn: Any, workflow_id: str) -> int:
    """Drop a workflow's subscriptions (it has ended); how many."""
    status: str = await conn.execute(
        "DELETE FROM event_signals WHERE workflow_id = $1", workflow_id
    )
    return int(status.rsplit(" ", 1)[1])
