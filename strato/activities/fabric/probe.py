"""Probing a host's agent: what a neighbour (``compute.probe_host`` on its own queue) or
the orchestrator (``fabric.probe_host``, for a cluster with no other Up host) does in an
investigation. An agent that answers its health endpoint is alive, whatever became of
its heartbeats; one that does not, is not (or cannot be told from a dead one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from temporalio import activity

from strato.activities.collect import activities_of
from strato.domain.fabric.ha import PROBE_HOST_CENTRAL, ProbeInput, ProbeResult

Prober = Callable[[ProbeInput], Awaitable[ProbeResult]]


async def probe_agent(inp: ProbeInput, prober: str) -> ProbeResult:
    """GET the agent's health endpoint. ``conclusive`` is False when this prober has no
    way to reach that kind of endpoint (a simulated host's, from outside the fleet)."""
    endpoint = inp.endpoint or ""
    if not endpoint.startswith(("http://", "https://")):
        return ProbeResult(
            reachable=False,
            conclusive=False,
            prober=prober,
            detail=f"{prober} cannot probe {endpoint or 'a host without an agent endpoint'}",
        )
    try:
        async with httpx.AsyncClient(timeout=inp.timeout_s) as client:
            answer = await client.get(endpoint)
        body = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as err:
        return ProbeResult(
            reachable=False,
            prober=prober,
            detail=f"{endpoint}: {str(err) or type(err).__name__}",
        )
    if not isinstance(body, dict) or body.get("host") != inp.host_name:
        return ProbeResult(
            reachable=False,
            prober=prober,
            detail=f"{endpoint} answered {answer.status_code}, not as {inp.host_name}'s agent",
        )
    return ProbeResult(
        reachable=True,
        prober=prober,
        detail=f"{endpoint} answered (agent {body.get('agent_id')})",
    )


class ProbeActivities:
    """The orchestrator's own probe (built with the data service; it needs no database)."""

    def __init__(self, db: Any) -> None:
        del db

    @activity.defn(name=PROBE_HOST_CENTRAL.name)
    async def probe_host(self, inp: ProbeInput) -> ProbeResult:
        return await probe_agent(inp, "orchestrator")

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
