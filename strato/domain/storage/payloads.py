"""Workflow and activity inputs/results of volumes: one input model and one result model each.

Imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel


class VolumeReadyInput(BaseModel):
    volume_id: UUID
    path: str
