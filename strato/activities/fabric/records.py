"""Data-service activities: guarded state changes in PostgreSQL, each with its event row.

They run on the orchestrator worker, as local activities where the workflow allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.fabric.ha import HaRecordsActivities
from strato.activities.fabric.maintenance import MaintenanceRecordsActivities
from strato.activities.fabric.probe import ProbeActivities
from strato.activities.intx import permanent
from strato.domain.errors import StratoError
from strato.domain.fabric.monitor import HOST_HEARTBEATS, HeartbeatsInput, HeartbeatsResult
from strato.domain.fabric.payloads import (
    AddHostResult,
    HostConnectedInput,
    HostHeartbeatInput,
    HostHeartbeatLostInput,
    HostHeartbeatResult,
    HostTransitionInput,
    HostTransitionResult,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.fabric.steps import (
    HOST_CONNECTED,
    HOST_HEARTBEAT,
    HOST_HEARTBEAT_LOST,
    HOST_REGISTER,
    HOST_ROUTE,
    HOST_TRANSITION,
)
from strato.domain.states import HostStatus
from strato.schema.db import Database
from strato.schema.fabric import agents, hosts

T = TypeVar("T")
log = logging.getLogger(__name__)


class RecordsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=HOST_TRANSITION.name)
    async def host_transition(self, inp: HostTransitionInput) -> HostTransitionResult:
        """Move a host's connection status. Idempotent: already there is success."""
        try:
            async with self.db.tx() as conn:
                return await hosts.transition(
                    conn,
                    inp.host_id,
                    HostStatus(inp.target),
                    reason=inp.reason,
                    operation_id=inp.operation_id,
                )
        except StratoError as err:
            raise permanent(err) from err

    @activity.defn(name=HOST_CONNECTED.name)
    async def host_connected(self, inp: HostConnectedInput) -> AddHostResult:
        """Store the host's reported facts and mark it Up. Idempotent."""
        try:
            async with self.db.tx() as conn:
                host = await hosts.record_connected(
                    conn, inp.host_id, inp.facts, operation_id=inp.operation_id
                )
        except StratoError as err:
            raise permanent(err) from err
        return AddHostResult(
            host_id=host.id,
            status=host.status,
            cpu_cores=host.cpu_cores,
            memory_total_mb=host.memory_total_mb,
        )

    @activity.defn(name=HOST_REGISTER.name)
    async def host_register(self, inp: RegisterHostInput) -> RegisterHostResult:
        """Create or update the host an agent serves. Idempotent for the same agent;
        refused (nothing written) for a name another agent holds."""
        try:
            async with self.db.tx() as conn:
                return await agents.register(conn, inp)
        except StratoError as err:
            raise permanent(err) from err

    @activity.defn(name=HOST_ROUTE.name)
    async def host_route(self, host_name: str) -> str | None:
        """The shared queue the host's agent serves it on; None for its own queues (or
        a host that is not there: its own queue then finds no agent, as for any host
        without one)."""
        async with self.db.conn() as conn:
            return await hosts.agent_queue(conn, host_name)

    @activity.defn(name=HOST_HEARTBEAT.name)
    async def host_heartbeat(self, inp: HostHeartbeatInput) -> HostHeartbeatResult:
        """Record the heartbeat and reconcile the VM report, in one transaction.
        Idempotent: a replayed report corrects nothing twice (the corrected rows changed
        after the report was taken) and unknown domains are reported once. The host's
        monitor (a per-host HostMonitor: the asking workflow) watches it from now on."""
        async with self.db.tx() as conn:
            return await agents.heartbeat(conn, inp, activity.info().workflow_id)

    @activity.defn(name=HOST_HEARTBEATS.name)
    async def host_heartbeats(self, inp: HeartbeatsInput) -> HeartbeatsResult:
        """A shard's batch: the quiet heartbeats recorded together, each other one in its
        own transaction. One host's trouble is not the batch's: a beat the database
        refuses (a deadlock, a constraint) is logged and not accepted, and the host's
        next beat tries again; a database that cannot be reached fails the batch (which
        is retried). Idempotent as :func:`agents.heartbeat` is."""
        async with self.db.tx() as conn:
            done = await agents.quiet_heartbeats(
                conn,
                inp.monitor_id,
                [HostHeartbeatInput(host_id=b.host_id, heartbeat=b.heartbeat) for b in inp.beats],
            )
        for b in inp.beats:
            if b.host_id in done:
                continue
            beat = HostHeartbeatInput(
                host_id=b.host_id,
                heartbeat=b.heartbeat,
                reported_unknown=inp.unknown.get(str(b.host_id), []),
            )
            try:
                async with self.db.tx() as conn:
                    done[b.host_id] = await agents.heartbeat(conn, beat, inp.monitor_id)
            except (asyncpg.PostgresError, StratoError) as err:
                log.warning("heartbeat of host %s not recorded: %s", b.host_name, err)
                done[b.host_id] = HostHeartbeatResult(accepted=False)
        return HeartbeatsResult(results={str(k): v for k, v in done.items()})

    @activity.defn(name=HOST_HEARTBEAT_LOST.name)
    async def host_heartbeat_lost(self, inp: HostHeartbeatLostInput) -> str | None:
        """An Up host whose agent went silent becomes Disconnected. Idempotent."""
        async with self.db.tx() as conn:
            return await agents.heartbeat_lost(conn, inp.host_id, inp.silent_s)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)


DATA_SERVICE: list[Any] = [
    RecordsActivities,
    HaRecordsActivities,
    ProbeActivities,
    MaintenanceRecordsActivities,
]
