"""Workflow and activity inputs/results. One input model and one result model each.

Kept in their own module (no datetime-bearing classes defined in workflow modules) and
imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class StepProgress(BaseModel):
    """What a running operation is doing now; returned by every workflow's ``progress`` query."""

    step: str = "pending"
    steps_done: int = 0
    steps_total: int = 1
    percent: int = 0
    detail: str = ""


class AddHostInput(BaseModel):
    host_id: UUID
    host_name: str
    zone_id: UUID
    operation_id: UUID | None = None
    connect_timeout_s: float = 30.0


class AddHostResult(BaseModel):
    host_id: UUID
    status: str
    cpu_cores: int = 0
    memory_total_mb: int = 0


class HostFacts(BaseModel):
    """What a hypervisor host reports about itself when connected."""

    hypervisor: str
    hypervisor_version: str = ""
    cpu_sockets: int = 1
    cpu_cores: int
    cpu_speed_mhz: int
    memory_total_mb: int
    capabilities: dict[str, Any] = Field(default_factory=dict)


class ConnectHostInput(BaseModel):
    host_id: UUID
    host_name: str


class HostTransitionInput(BaseModel):
    host_id: UUID
    target: str
    reason: str | None = None
    operation_id: UUID | None = None


class HostTransitionResult(BaseModel):
    host_id: UUID
    old_status: str
    new_status: str
    changed: bool


class HostConnectedInput(BaseModel):
    host_id: UUID
    facts: HostFacts
    operation_id: UUID | None = None
