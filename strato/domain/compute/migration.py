"""Migrating a running VM to another host (MigrateVm): live when both hosts' drivers can
and they share a cluster (the domain moves while it runs), cold otherwise (stopped on
its host, started on the other with the same definition). Capacity is claimed on the
target before anything moves and released on the source after; a failure puts the VM
back on its source host, running, and releases the target's claim."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from strato.domain.compute.payloads import ComputeVmInput, VmContext, VmRef, VmResult
from strato.domain.compute.specs import ConsoleInfo, VmSpec
from strato.domain.steps import Flow, Step


class MigrateVmInput(BaseModel):
    vm_id: UUID
    operation_id: UUID | None = None
    host_id: UUID | None = None  # the target; None: the planner picks one
    live: bool | None = None  # None: live if both hosts can, else cold; False: cold
    host_reach_s: float | None = None


class MigrationClaimInput(VmRef):
    host_id: UUID | None = None
    live: bool | None = None


class MigrationPlan(BaseModel):
    source_host_id: UUID
    source_host_name: str
    target_host_id: UUID
    target_host_name: str
    target_url: str = ""  # the target's hypervisor URI (a live migration's destination)
    live: bool


class MigrationDoneInput(VmRef):
    plan: MigrationPlan
    moved: bool  # False: the VM is back on its source
    stopped: bool = False  # not moved, and not running on its source either
    console: ConsoleInfo | None = None  # where its console listens now (a cold move)
    error: str | None = None

    def ref_fields(self) -> dict[str, object]:
        return {"vm_id": self.vm_id, "operation_id": self.operation_id}


class MigrateOnHostInput(BaseModel):
    name: str
    target_host: str
    target_url: str = ""


MIGRATE_VM: Flow[MigrateVmInput, VmResult] = Flow("MigrateVm", MigrateVmInput, VmResult)
VM_MIGRATION_CLAIM: Step[MigrationClaimInput, MigrationPlan] = Step(
    "records.vm_migration_claim", MigrationClaimInput, MigrationPlan
)
VM_MIGRATION_DONE: Step[MigrationDoneInput, VmContext] = Step(
    "records.vm_migration_done", MigrationDoneInput, VmContext
)
# On the source host's queue.
VM_SPEC: Step[ComputeVmInput, VmSpec] = Step("compute.vm_spec", ComputeVmInput, VmSpec)
MIGRATE_ON_HOST: Step[MigrateOnHostInput, None] = Step(
    "compute.migrate_vm", MigrateOnHostInput, None
)
