"""Maintenance mode (CloudStack's prepareHostForMaintenance): every VM moved off a host,
then the host in Maintenance, never chosen by planners, until an operator cancels it.

Prepare sets the host PrepareForMaintenance (planners skip it from that moment) and
starts a HostMaintenance run: each running VM is migrated (live where both hosts can,
cold otherwise) as its own ``vm.migrate`` operation. All moved: Maintenance. Any left:
ErrorInMaintenance, and the operation fails naming each VM that blocks and why.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.fabric.ha import HaRestartResult
from strato.domain.steps import Flow, Step


class MaintenanceInput(BaseModel):
    host_id: UUID
    host_name: str
    operation_id: UUID | None = None


class MaintenanceVms(BaseModel):
    vms: dict[str, str] = Field(default_factory=dict)  # VM id -> name: running on the host


class MaintenanceMoveInput(BaseModel):
    host_id: UUID
    operation_id: UUID | None
    vm_ids: list[UUID]


class MaintenanceDoneInput(BaseModel):
    host_id: UUID
    operation_id: UUID | None = None
    blocked: dict[str, str] = Field(default_factory=dict)  # VM name -> why it is still there


class MaintenanceResult(BaseModel):
    host_id: UUID
    resource_state: str
    moved: list[str] = Field(default_factory=list)  # VM names
    blocked: dict[str, str] = Field(default_factory=dict)


HOST_MAINTENANCE: Flow[MaintenanceInput, MaintenanceResult] = Flow(
    "HostMaintenance", MaintenanceInput, MaintenanceResult
)
MAINTENANCE_VMS: Step[MaintenanceInput, MaintenanceVms] = Step(
    "records.maintenance_vms", MaintenanceInput, MaintenanceVms
)
MAINTENANCE_DONE: Step[MaintenanceDoneInput, str] = Step(
    "records.maintenance_done", MaintenanceDoneInput, str
)
# On the orchestrator, through the command layer: a vm.migrate operation per VM.
MAINTENANCE_MIGRATE: Step[MaintenanceMoveInput, HaRestartResult] = Step(
    "fabric.maintenance_migrate", MaintenanceMoveInput, HaRestartResult
)
