"""Recurring snapshot policies: each one a Temporal Schedule that starts a
RecurringSnapshot run, which takes a snapshot through the same command as a user does
(its own operation, under the volume's lock) and deletes the policy's oldest beyond
``max_snaps``. A policy's schedule is paused while its volume is detached or not Ready,
and removed with the volume: :func:`reconcile` makes schedules match (the orchestrator
runs it every few seconds; it is level-triggered, so a crash anywhere only delays it).

Seen in the Temporal UI under Schedules as ``snapshot-policy:<policy id>``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID, uuid4

from pydantic import Field
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from strato.commands.auth import Action, Caller
from strato.commands.context import CommandContext
from strato.domain.errors import Conflict, NotFound
from strato.domain.fields import Request
from strato.domain.ids import workflow_id
from strato.domain.storage import flows
from strato.domain.storage.models import SnapshotPolicy
from strato.domain.storage.payloads import PolicyRef
from strato.domain.storage.policies import Calendar, calendar, check_timezone
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.storage import policies
from strato.schema.storage.policies import POLICIES
from strato.schema.storage.volumes import VOLUMES
from strato.settings import Settings

log = logging.getLogger(__name__)


class PolicyCreate(Request):
    interval_type: str = Field(max_length=16)
    schedule: str = Field(max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    max_snaps: int = Field(ge=1, le=1000)


def _range(value: int | None, low: int, high: int) -> list[ScheduleRange]:
    return [ScheduleRange(low, high)] if value is None else [ScheduleRange(value)]


def spec_of(cal: Calendar, timezone: str, every_s: float) -> ScheduleSpec:
    """The schedule's spec: the calendar in the policy's time zone, or (a test and demo
    setting, ``STRATO_SNAPSHOT_POLICY_EVERY_S``) a fixed interval instead."""
    if every_s > 0:
        return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))])
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                minute=[ScheduleRange(cal.minute)],
                hour=_range(cal.hour, 0, 23),
                day_of_week=_range(cal.day_of_week, 0, 6),
                day_of_month=_range(cal.day_of_month, 1, 31),
            )
        ],
        time_zone_name=timezone,
    )


def _schedule(policy_id: UUID, spec: ScheduleSpec, settings: Settings, paused: bool) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            flows.RECURRING_SNAPSHOT.name,
            PolicyRef(policy_id=policy_id),
            id=workflow_id("snapshot-policy", "run", policy_id),
            task_queue=settings.orchestration_queue,
        ),
        spec=spec,
        # A firing while the last one still runs is skipped, not queued: the next comes.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(paused=paused, note=_note(paused)),
    )


def _note(paused: bool) -> str:
    return "paused: its volume is detached or not Ready" if paused else "active"


async def create_policy(ctx: CommandContext, volume_id: UUID, body: PolicyCreate) -> SnapshotPolicy:
    """A policy and its schedule. The schedule is made first: a failure to record the
    policy deletes it again, and a schedule whose policy row is gone removes itself at
    its next firing."""
    await ctx.authorize(Action("snapshot_policy.create", "volume", volume_id))
    cal = calendar(body.interval_type, body.schedule)
    tz = check_timezone(body.timezone)
    async with ctx.db.conn() as conn:
        vol = await repository.get(conn, VOLUMES, volume_id)
    if vol.state in ("Destroy", "Expunging", "Expunged"):
        raise Conflict(f"volume {vol.name} is {vol.state}: no policy for it")
    policy_id = uuid4()
    paused = not (vol.vm_id is not None and vol.state == "Ready")
    sid = policies.schedule_id(policy_id)
    spec = spec_of(cal, tz, ctx.settings.snapshot_policy_every_s)
    await ctx.temporal.create_schedule(sid, _schedule(policy_id, spec, ctx.settings, paused))
    try:
        async with ctx.db.tx() as conn:
            return await repository.insert(
                conn,
                POLICIES,
                {
                    "id": policy_id,
                    "volume_id": volume_id,
                    "interval_type": body.interval_type,
                    "schedule": body.schedule,
                    "timezone": tz,
                    "max_snaps": body.max_snaps,
                    "schedule_id": sid,
                    "paused": paused,
                },
            )
    except Exception:
        await delete_schedule(ctx.temporal, sid)
        raise


async def delete_policy(ctx: CommandContext, policy_id: UUID) -> None:
    """The policy's schedule, then its row (its snapshots stay, no longer pruned)."""
    await ctx.authorize(Action("snapshot_policy.delete", "snapshot_policy", policy_id))
    async with ctx.db.conn() as conn:
        policy: SnapshotPolicy = await repository.get(conn, POLICIES, policy_id)
    await delete_schedule(ctx.temporal, policy.schedule_id)
    async with ctx.db.tx() as conn:
        await repository.delete(conn, POLICIES, policy_id)


async def delete_schedule(client: Client, sid: str) -> None:
    """Delete a Temporal Schedule; one already gone is fine."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


async def reconcile(db: Database, client: Client) -> int:
    """Pause the schedules of policies whose volume is detached or not Ready, resume the
    others, remove those of expunged volumes (row and schedule). Returns how many it
    changed. Idempotent: run it as often as you like."""
    async with db.conn() as conn:
        rows = await policies.drifted(conn)
    changed = 0
    for r in rows:
        handle = client.get_schedule_handle(r["schedule_id"])
        try:
            if r["volume_state"] == "Expunged":
                await delete_schedule(client, r["schedule_id"])
                async with db.tx() as conn:
                    await repository.delete(conn, POLICIES, r["id"])
            elif r["active"]:
                await handle.unpause(note=_note(False))
                async with db.conn() as conn:
                    await policies.set_paused(conn, r["id"], False)
            else:
                await handle.pause(note=_note(True))
                async with db.conn() as conn:
                    await policies.set_paused(conn, r["id"], True)
            changed += 1
        except (RPCError, NotFound, Conflict) as err:
            log.warning("snapshot policy %s of volume %s: %s", r["id"], r["volume"], err)
    return changed


def system_context(db: Database, client: Client, settings: Settings) -> CommandContext:
    """The context the policies' runs act in: the platform itself, with admin scope."""
    return CommandContext(db, client, settings, Caller(name="snapshot-policy", scope="admin"))
