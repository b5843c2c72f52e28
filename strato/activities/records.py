"""Data-service activities: guarded state changes in PostgreSQL, each with its event row.

They run on the orchestrator worker, as local activities where the workflow allows.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.domain.errors import StratoError
from strato.domain.ids import Activities
from strato.domain.payloads import (
    AddHostResult,
    HostConnectedInput,
    HostTransitionInput,
    HostTransitionResult,
)
from strato.domain.states import HostStatus
from strato.schema import hosts
from strato.schema.db import Database


def permanent(err: StratoError) -> ApplicationError:
    """A domain error is a fact, not a hiccup: retrying cannot change it."""
    return ApplicationError(err.detail, type=err.type, non_retryable=True)


class RecordsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=Activities.HOST_TRANSITION)
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

    @activity.defn(name=Activities.HOST_CONNECTED)
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
