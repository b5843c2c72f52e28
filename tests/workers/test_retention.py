"""Temporal's retention is set explicitly, by the orchestrator worker at start, and only
the retention changes (the operation outcomes it would otherwise take with it are in
PostgreSQL: tests/workflows/test_operation_outcome.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from strato.temporal import ensure_retention, retention


async def test_retention_is_set_once_and_kept(temporal_client: Client) -> None:
    before = await retention(temporal_client)
    days = 3 if before != timedelta(days=3) else 4
    try:
        assert await ensure_retention(temporal_client, days) is True
        assert await retention(temporal_client) == timedelta(days=days)
        assert await ensure_retention(temporal_client, days) is False  # nothing to change
    finally:
        await ensure_retention(temporal_client, max(1, before.days))
    assert await retention(temporal_client) == before
