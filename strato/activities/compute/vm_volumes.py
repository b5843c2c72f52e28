"""Data-service steps of volume operations that hold a VM's lock as well (attach, detach,
resize of an attached volume): the volume's first and last steps together with the VM's,
each in one transaction, so the two locks are taken and given back together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import permanent
from strato.domain.compute.payloads import VmVolumeBeginInput, VmVolumeContext, VmVolumeFinishInput
from strato.domain.compute.steps import VM_VOLUME_BEGIN, VM_VOLUME_FINISH
from strato.domain.errors import StratoError
from strato.domain.storage.payloads import VolumeContext
from strato.schema.compute import vms
from strato.schema.db import Database
from strato.schema.storage import volumes


class VmVolumeActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=VM_VOLUME_BEGIN.name)
    async def vm_volume_begin(self, inp: VmVolumeBeginInput) -> VmVolumeContext:
        """The volume's begin, then the VM's (its state unchanged). A volume operation
        that already finished returns at once: its last step gave both locks back."""
        try:
            async with self.db.tx() as conn:
                vol = await volumes.begin(conn, inp.volume)
                if vol.finished:
                    return VmVolumeContext(volume=vol)
                began = await vms.begin(conn, inp.vm_id, inp.volume.operation_id, None)
                vm = await vms.context(conn, inp.vm_id)
                if not began:
                    vm = vm.model_copy(update={"finished": True})
                return VmVolumeContext(volume=vol, vm=vm)
        except StratoError as err:
            raise permanent(err) from err

    @activity.defn(name=VM_VOLUME_FINISH.name)
    async def vm_volume_finish(self, inp: VmVolumeFinishInput) -> VolumeContext:
        """The volume's finish and the VM's lock back, one transaction. Idempotent."""
        try:
            async with self.db.tx() as conn:
                ctx = await volumes.finish(conn, inp.volume)
                await vms.finish(conn, inp.vm)
                return ctx
        except StratoError as err:
            raise permanent(err) from err

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
