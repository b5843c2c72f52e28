"""Data-service steps of host investigation and HA (:mod:`strato.schema.fabric.ha`): each
one transaction, guarded by the outage it is about, so a retry changes nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.fabric.ha import (
    HA_FAILED,
    HOST_ALIVE,
    HOST_DECLARE_DOWN,
    HOST_INVESTIGATION,
    HOST_SILENT,
    DeclareDownResult,
    HaFailedInput,
    HaFailedResult,
    HostSilentInput,
    HostSilentResult,
    HostVerdictInput,
    Investigation,
    InvestigationInput,
)
from strato.domain.fabric.monitor import ROUTERS_REMOVED, RoutersRemovedInput
from strato.schema.fabric import ha


class HaRecordsActivities(InTransaction):
    @activity.defn(name=HOST_SILENT.name)
    async def host_silent(self, inp: HostSilentInput) -> HostSilentResult:
        """An Up host whose agent went silent goes to Alert: a new outage (unless the
        host is another monitor's now: the asking workflow's id says which it is).
        Idempotent."""
        asker = activity.info().workflow_id
        return await self._tx(lambda conn: ha.silent(conn, inp.host_id, inp.silent_s, asker))

    @activity.defn(name=ROUTERS_REMOVED.name)
    async def routers_removed(self, inp: RoutersRemovedInput) -> int:
        return await self._tx(lambda conn: ha.routers_removed(conn, inp.host_id, inp.networks))

    @activity.defn(name=HOST_INVESTIGATION.name)
    async def host_investigation(self, inp: InvestigationInput) -> Investigation:
        return await self._tx(lambda conn: ha.investigation(conn, inp.host_id, inp.outage))

    @activity.defn(name=HOST_ALIVE.name)
    async def host_alive(self, inp: HostVerdictInput) -> str:
        return await self._tx(lambda conn: ha.alive(conn, inp))

    @activity.defn(name=HOST_DECLARE_DOWN.name)
    async def host_declare_down(self, inp: HostVerdictInput) -> DeclareDownResult:
        return await self._tx(lambda conn: ha.declare_down(conn, inp))

    @activity.defn(name=HA_FAILED.name)
    async def ha_failed(self, inp: HaFailedInput) -> HaFailedResult:
        return await self._tx(lambda conn: ha.ha_failed(conn, inp))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
