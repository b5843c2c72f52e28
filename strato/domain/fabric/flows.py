"""The fabric's workflow types."""

from __future__ import annotations

from strato.domain.fabric.payloads import (
    AddHostInput,
    AddHostResult,
    HostMonitorInput,
    InventoryInput,
    InventoryResult,
    RegisterHostInput,
    RegisterHostResult,
)
from strato.domain.steps import Flow

ADD_HOST: Flow[AddHostInput, AddHostResult] = Flow("AddHost", AddHostInput, AddHostResult)
REGISTER_HOST: Flow[RegisterHostInput, RegisterHostResult] = Flow(
    "RegisterHost", RegisterHostInput, RegisterHostResult
)
HOST_MONITOR: Flow[HostMonitorInput, None] = Flow("HostMonitor", HostMonitorInput, None)
INVENTORY: Flow[InventoryInput, InventoryResult] = Flow(
    "Inventory", InventoryInput, InventoryResult
)
