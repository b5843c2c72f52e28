"""Data-service steps of HostMaintenance: the VMs to move, and the host's end state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.fabric.maintenance import (
    MAINTENANCE_DONE,
    MAINTENANCE_VMS,
    MaintenanceDoneInput,
    MaintenanceInput,
    MaintenanceVms,
)
from strato.schema.fabric import maintenance


class MaintenanceRecordsActivities(InTransaction):
    @activity.defn(name=MAINTENANCE_VMS.name)
    async def maintenance_vms(self, inp: MaintenanceInput) -> MaintenanceVms:
        async def run(conn: Any) -> MaintenanceVms:
            return MaintenanceVms(vms=await maintenance.running_vms(conn, inp.host_id))

        return await self._tx(run)

    @activity.defn(name=MAINTENANCE_DONE.name)
    async def maintenance_done(self, inp: MaintenanceDoneInput) -> str:
        return await self._tx(lambda conn: maintenance.done(conn, inp.host_id, dict(inp.blocked)))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
