"""Data-service steps of the VM snapshot operations (local activities, idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.compute.payloads import VmRef
from strato.domain.compute.steps import VM_SNAPSHOT_DATA_TAGS, VM_SNAPSHOT_SETTLE
from strato.domain.compute.vm_snapshots import DiskTag, VmSnapshotSettle
from strato.schema.compute import vm_snapshots


class VmSnapshotActivities(InTransaction):
    @activity.defn(name=VM_SNAPSHOT_SETTLE.name)
    async def vm_snapshot_settle(self, inp: VmSnapshotSettle) -> None:
        await self._tx(lambda c: vm_snapshots.settle(c, inp))

    @activity.defn(name=VM_SNAPSHOT_DATA_TAGS.name)
    async def vm_snapshot_data_tags(self, inp: VmRef) -> list[DiskTag]:
        return await self._tx(lambda c: vm_snapshots.data_tags(c, inp.vm_id))

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
