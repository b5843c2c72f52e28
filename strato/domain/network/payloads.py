"""Workflow and activity inputs/results of NICs: one input model and one result model each.

Imported by workflows through ``workflow.unsafe.imports_passed_through()``. New fields
always get defaults so running executions keep decoding.
"""

from __future__ import annotations

from pydantic import BaseModel


class NicInfo(BaseModel):
    mac: str
    ip_address: str | None = None
    network_name: str = ""


class UnplugInput(BaseModel):
    network: str
    mac: str
