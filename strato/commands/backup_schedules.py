"""Scheduled VM backups: each a Temporal Schedule (``backup-schedule:<id>`` in the Temporal
UI's Schedules) whose firings start a RecurringBackup run. A run backs the VM up through
the same command as a user (its own operation, with the VM's offering, whose retention
prunes the oldest) and waits for it. A firing skips, saying why, when the VM cannot be
backed up then (busy, no offering, a host that cannot snapshot it live); a schedule whose
VM is expunged, or whose row is gone, removes itself at its next firing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from pydantic import Field
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
)

from strato.activities.collect import activities_of
from strato.commands import backups as backup_commands
from strato.commands.auth import Action, Caller
from strato.commands.context import CommandContext
from strato.commands.policies import delete_schedule, spec_of
from strato.domain.compute.models import Vm
from strato.domain.errors import Conflict, NotFound, StratoError
from strato.domain.fields import Request
from strato.domain.ids import workflow_id
from strato.domain.storage import flows
from strato.domain.storage.backups import ScheduleFired, ScheduleFireInput, ScheduleRef
from strato.domain.storage.models import BackupSchedule
from strato.domain.storage.policies import calendar, check_timezone
from strato.domain.storage.steps import BACKUP_FIRE
from strato.schema import repository
from strato.schema.compute.vms import VMS
from strato.schema.db import Database
from strato.schema.storage.backups import SCHEDULES
from strato.settings import Settings


class BackupScheduleCreate(Request):
    interval_type: str = Field(max_length=16)
    schedule: str = Field(max_length=16)
    timezone: str = Field(default="UTC", max_length=64)


def schedule_id(row_id: UUID) -> str:
    return f"backup-schedule:{row_id}"


async def create_schedule(
    ctx: CommandContext, vm_id: UUID, body: BackupScheduleCreate
) -> BackupSchedule:
    """The schedule first (a failure to record the row deletes it again)."""
    await ctx.authorize(Action("backup_schedule.create", "vm", vm_id))
    cal = calendar(body.interval_type, body.schedule)
    tz = check_timezone(body.timezone)
    async with ctx.db.conn() as conn:
        vm = await repository.get(conn, VMS, vm_id)
    if vm.state in ("Destroyed", "Expunging", "Expunged"):
        raise Conflict(f"VM {vm.name} is {vm.state}: no backup schedule for it")
    row_id = uuid4()
    sid = schedule_id(row_id)
    action = ScheduleActionStartWorkflow(
        flows.RECURRING_BACKUP.name,
        ScheduleRef(schedule_id=row_id),
        id=workflow_id("backup-schedule", "run", row_id),
        task_queue=ctx.settings.orchestration_queue,
    )
    spec = spec_of(cal, tz, ctx.settings.snapshot_policy_every_s)
    policy = SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    await ctx.temporal.create_schedule(sid, Schedule(action=action, spec=spec, policy=policy))
    try:
        async with ctx.db.tx() as conn:
            values = body.model_dump() | {"id": row_id, "vm_id": vm_id, "timezone": tz}
            return await repository.insert(conn, SCHEDULES, values | {"schedule_id": sid})
    except Exception:
        await delete_schedule(ctx.temporal, sid)
        raise


async def delete(ctx: CommandContext, row_id: UUID) -> None:
    """The Temporal Schedule, then the row (the backups it made stay)."""
    await ctx.authorize(Action("backup_schedule.delete", "backup_schedule", row_id))
    async with ctx.db.conn() as conn:
        row = await repository.get(conn, SCHEDULES, row_id)
    await delete_schedule(ctx.temporal, row.schedule_id)
    async with ctx.db.tx() as conn:
        await repository.delete(conn, SCHEDULES, row_id)


class BackupScheduleActivities:
    """The schedule's step: it acts through the command layer (so it lives here) and runs
    on the orchestrator, which gives it its Temporal client and settings."""

    def __init__(self, db: Database, client: Client, settings: Settings) -> None:
        self.db = db
        self.client = client
        self.settings = settings

    @activity.defn(name=BACKUP_FIRE.name)
    async def fire(self, inp: ScheduleFireInput) -> ScheduleFired:
        """Back the VM up. Idempotent (the firing is the Idempotency-Key)."""
        row: BackupSchedule | None = None
        vm: Vm | None = None
        async with self.db.conn() as conn:
            with contextlib.suppress(NotFound):
                row = await repository.get(conn, SCHEDULES, inp.schedule_id)
                vm = await repository.get(conn, VMS, row.vm_id)
        if row is None or vm is None or vm.state == "Expunged":
            await delete_schedule(self.client, schedule_id(inp.schedule_id))
            if row is not None:
                async with self.db.tx() as conn:
                    await repository.delete(conn, SCHEDULES, row.id)
            return ScheduleFired(skipped="its VM is gone; the schedule was removed")
        ctx = CommandContext(
            self.db, self.client, self.settings, Caller(name="backup-schedule", scope="admin")
        )
        try:
            accepted = await backup_commands.create_backup(ctx, vm.id, None, inp.firing)
        except StratoError as err:
            return ScheduleFired(skipped=err.detail)
        return ScheduleFired(workflow_id=accepted.operation.workflow_id)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
