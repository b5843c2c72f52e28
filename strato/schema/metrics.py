"""What ``/metrics`` reads at each scrape (a few grouped counts; capacity comes from
:mod:`strato.schema.fabric.usage`)."""

from __future__ import annotations

from typing import Any


async def operations(conn: Any) -> list[Any]:
    """Operations by kind and outcome (``running``: none recorded yet)."""
    rows: list[Any] = await conn.fetch(
        """SELECT kind, coalesce(outcome->>'state', 'running') AS state, count(*) AS n
           FROM operations GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    return rows


async def hosts(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT status, resource_state, count(*) AS n FROM hosts
           WHERE status <> 'Removed' GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    return rows


async def vms(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        "SELECT state, count(*) AS n FROM vms WHERE state <> 'Expunged' GROUP BY 1 ORDER BY 1"
    )
    return rows


async def alerts(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT kind, count(*) AS n FROM alerts WHERE cleared_at IS NULL
           GROUP BY 1 ORDER BY 1"""
    )
    return rows
