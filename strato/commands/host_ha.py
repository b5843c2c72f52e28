"""HA's steps that act through the command layer: a fenced HA VM is started elsewhere as
an ordinary ``vm.start`` operation (its own run, shown on the VM like any start: the
planner skips the Down host), and HA waits for those operations to end. They run on the
orchestrator, which gives them the Temporal client and the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError

from strato.activities.beat import beating
from strato.activities.collect import activities_of
from strato.commands import guest_networks
from strato.commands.auth import Caller
from strato.commands.compute import VmMigrate, act_on_vm
from strato.commands.context import CommandContext
from strato.commands.guest_networks import NetworkRestart
from strato.domain.errors import StratoError
from strato.domain.fabric.ha import (
    HA_AWAIT,
    HA_NETWORKS,
    HA_RESTART,
    HaAwaitInput,
    HaAwaitResult,
    HaNetworksInput,
    HaRestartInput,
    HaRestartResult,
)
from strato.domain.fabric.maintenance import MAINTENANCE_MIGRATE, MaintenanceMoveInput
from strato.schema.db import Database
from strato.settings import Settings
from strato.workflows.common.failures import failure_reason


class HaActivities:
    def __init__(self, db: Database, client: Client, settings: Settings) -> None:
        self.db = db
        self.client = client
        self.settings = settings

    @activity.defn(name=HA_RESTART.name)
    async def ha_restart(self, inp: HaRestartInput) -> HaRestartResult:
        """A start operation per VM. Idempotent: the outage and the VM are its
        Idempotency-Key, so a retry finds the operation it started. A VM the command
        refuses (someone started or destroyed it since it was fenced) is left alone."""
        ctx = CommandContext(self.db, self.client, self.settings, Caller(name="ha", scope="admin"))
        result = HaRestartResult()
        for vm_id in inp.vm_ids:
            activity.heartbeat()  # alive: a worker killed mid-way is seen within seconds
            key = f"ha:{inp.host_id}:{inp.outage}:{vm_id}"
            try:
                accepted = await act_on_vm(ctx, vm_id, "start", None, key)
            except StratoError as err:
                result.refused[str(vm_id)] = err.detail
                continue
            result.operations[str(vm_id)] = accepted.operation.workflow_id
        return result

    @activity.defn(name=HA_NETWORKS.name)
    async def ha_networks(self, inp: HaNetworksInput) -> HaRestartResult:
        """A restart operation per network whose router ran on the Down host (rebuilt
        on an Up host with its ports). Idempotent: the outage and the network are its
        Idempotency-Key. A network the command refuses (being deleted) is left."""
        ctx = CommandContext(self.db, self.client, self.settings, Caller(name="ha", scope="admin"))
        result = HaRestartResult()
        for network_id in inp.network_ids:
            activity.heartbeat()
            key = f"ha:{inp.host_id}:{inp.outage}:network:{network_id}"
            try:
                accepted = await guest_networks.restart(ctx, network_id, NetworkRestart(), key)
            except StratoError as err:
                result.refused[str(network_id)] = err.detail
                continue
            result.operations[str(network_id)] = accepted.operation.workflow_id
        return result

    @activity.defn(name=MAINTENANCE_MIGRATE.name)
    async def maintenance_migrate(self, inp: MaintenanceMoveInput) -> HaRestartResult:
        """A migrate operation per VM off a host being prepared for maintenance.
        Idempotent: the maintenance operation and the VM are its Idempotency-Key."""
        ctx = CommandContext(
            self.db, self.client, self.settings, Caller(name="maintenance", scope="admin")
        )
        result = HaRestartResult()
        for vm_id in inp.vm_ids:
            activity.heartbeat()
            key = f"maintenance:{inp.host_id}:{inp.operation_id}:{vm_id}"
            try:
                accepted = await act_on_vm(ctx, vm_id, "migrate", VmMigrate(), key)
            except StratoError as err:
                result.refused[str(vm_id)] = err.detail
                continue
            result.operations[str(vm_id)] = accepted.operation.workflow_id
        return result

    @activity.defn(name=HA_AWAIT.name)
    async def ha_await(self, inp: HaAwaitInput) -> HaAwaitResult:
        """The start operations' ends (heartbeating while they run)."""

        async def one(workflow_id: str) -> str | None:
            try:
                await self.client.get_workflow_handle(workflow_id).result()
            except WorkflowFailureError as err:
                return failure_reason(err)
            return None

        ids = sorted(inp.operations)
        ends = await beating(asyncio.gather(*(one(inp.operations[v]) for v in ids)))
        result = HaAwaitResult()
        for vm_id, error in zip(ids, ends, strict=True):
            if error is None:
                result.succeeded.append(vm_id)
            else:
                result.failed[vm_id] = error
        return result

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
