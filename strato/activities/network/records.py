"""Data-service activities of guest networks (local activities on the orchestrator): what
the network agents are to do, read from the database, and the database's part after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.network.payloads import (
    NetworkOpInput,
    NetworkResult,
    PortsPlan,
    SecurityGroupOpInput,
    VmHostInput,
)
from strato.domain.network.steps import (
    NETWORK_DONE,
    NETWORK_PLAN,
    NETWORK_SG_PLAN,
    NETWORK_VM_JOINS,
    NETWORK_VM_LEAVES,
)
from strato.schema.network import leaving, lifecycle, plans, port_security


class NetworkRecordsActivities(InTransaction):
    @activity.defn(name=NETWORK_VM_JOINS.name)
    async def vm_joins(self, inp: VmHostInput) -> PortsPlan:
        """Idempotent: a retry plans the same ports at a newer generation."""
        assert inp.host_id is not None
        host_id = inp.host_id
        return await self._tx(lambda c: plans.vm_joins(c, inp.vm_id, host_id, inp.operation_id))

    @activity.defn(name=NETWORK_VM_LEAVES.name)
    async def vm_leaves(self, inp: VmHostInput) -> PortsPlan:
        return await self._tx(
            lambda c: leaving.vm_leaves(c, inp.vm_id, inp.operation_id, expunging=inp.expunging)
        )

    @activity.defn(name=NETWORK_PLAN.name)
    async def network_plan(self, inp: NetworkOpInput) -> PortsPlan:
        return await self._tx(lambda c: lifecycle.plan(c, inp))

    @activity.defn(name=NETWORK_DONE.name)
    async def network_done(self, inp: NetworkOpInput) -> NetworkResult:
        return await self._tx(lambda c: lifecycle.done(c, inp))

    @activity.defn(name=NETWORK_SG_PLAN.name)
    async def network_sg_plan(self, inp: SecurityGroupOpInput) -> PortsPlan:
        async def plan(conn: Any) -> PortsPlan:
            return PortsPlan(resecure=await port_security.group_plan(conn, inp.group_id))

        return await self._tx(plan)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)


DATA_SERVICE: list[Any] = [NetworkRecordsActivities]
