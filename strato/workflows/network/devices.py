"""Carrying out a :class:`PortsPlan` on the network agents (``network@<host>``), in the
order its parts depend on: routers to rebuild are removed first; ports come off, then on;
other hosts' tunnels follow; routers are applied whole; networks leave hosts last.
Independent hosts are worked on concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.ids import network_queue
    from strato.domain.network.payloads import PortsPlan
    from strato.domain.network.specs import PortInfo
    from strato.domain.network.steps import (
        APPLY_ROUTER,
        DESTROY_ROUTER,
        IMPLEMENT_NETWORKS,
        PLUG_PORTS,
        PRUNE_PORTS,
        PUT_USER_DATA,
        SHUTDOWN_NETWORK,
        SHUTDOWN_NETWORK_AT,
        UNPLUG_PORTS,
    )
    from strato.domain.steps import Step
    from strato.workflows.common import calls
    from strato.workflows.common.failures import failure_reason
    from strato.workflows.common.policies import (
        BEST_EFFORT_RETRY,
        HOST_HEARTBEAT,
        HOST_RETRY,
        SCHEDULE_TO_START,
    )

I = TypeVar("I")  # noqa: E741 - a step's input type
R = TypeVar("R")


async def on_agent(step: Step[I, R], host: str, arg: I, *, best_effort: bool = False) -> R:
    return await calls.remote(
        step,
        arg,
        queue=network_queue(host),
        reach=SCHEDULE_TO_START,
        timeout=timedelta(seconds=120),
        heartbeat=HOST_HEARTBEAT,
        retry=BEST_EFFORT_RETRY if best_effort else HOST_RETRY,
    )


async def plug(plan: PortsPlan) -> list[PortInfo]:
    """The plan's ports plugged on its host (their networks implemented there)."""
    if not plan.plug.ports and not plan.plug.networks:
        return []
    return await on_agent(PLUG_PORTS, plan.host, plan.plug)


async def _all(calls_: list[Awaitable[Any]], notes: list[str] | None) -> None:
    """Run ``calls_`` concurrently; with ``notes``, failures are noted, not raised."""
    results = await asyncio.gather(*calls_, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            if notes is None or not isinstance(result, FailureError):
                raise result
            notes.append(failure_reason(result))


async def converge(plan: PortsPlan, *, best_effort: bool = False) -> list[str]:
    """Everything of the plan but its plugs. ``best_effort``: a host that fails (its
    agent down) is noted and skipped; what it missed is drift the doctor reports and a
    restart of the network repairs. Returns the notes."""
    notes: list[str] | None = [] if best_effort else None
    be = best_effort
    await _all(
        [
            on_agent(DESTROY_ROUTER, j.host, j.spec.network, best_effort=be)
            for j in plan.destroy_routers
        ],
        notes,
    )
    if plan.unplug.ports:
        await _all([on_agent(UNPLUG_PORTS, plan.host, plan.unplug, best_effort=be)], notes)
    await _all(
        [on_agent(IMPLEMENT_NETWORKS, p.host, p.networks, best_effort=be) for p in plan.peers],
        notes,
    )
    await _all(
        [on_agent(APPLY_ROUTER, j.host, j.spec, best_effort=be) for j in plan.routers], notes
    )
    await _all(
        [on_agent(PUT_USER_DATA, u.host, u.data, best_effort=be) for u in plan.user_data], notes
    )
    await _all([on_agent(PLUG_PORTS, p.host, p.plug, best_effort=be) for p in plan.resecure], notes)
    await _all([on_agent(PRUNE_PORTS, p.host, p.prune, best_effort=be) for p in plan.prune], notes)
    if plan.shutdown and workflow.patched("shutdown-at-generation"):
        # A host's network goes unless a newer operation (a VM booting there since this
        # plan) implemented it again: its port would go with it.
        shutdowns: list[Awaitable[None]] = [
            on_agent(SHUTDOWN_NETWORK_AT, s.host, n, best_effort=be)
            for s in plan.shutdown
            for n in s.networks
        ]
    else:
        shutdowns = [
            on_agent(SHUTDOWN_NETWORK, s.host, n.name, best_effort=be)
            for s in plan.shutdown
            for n in s.networks
        ]
    await _all(shutdowns, notes)
    return notes or []
