"""Capacity and alerts: what the estate has and holds (for the API and ``strato
capacity``), and the sweep that raises and clears capacity alerts against the
notification thresholds (CloudStack's ``*.capacity.notificationthreshold``)."""

from __future__ import annotations

from uuid import UUID

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.domain.errors import NotFound
from strato.domain.fabric.capacity import (
    ALERT_SCOPE,
    KINDS,
    AlertView,
    CapacityEntry,
    HostUsage,
    Kind,
    Scope,
    VmUsage,
)
from strato.schema import repository
from strato.schema.compute import stats
from strato.schema.compute.vms import VMS
from strato.schema.db import Database
from strato.schema.fabric import alerts, usage
from strato.schema.tables import HOSTS


async def capacity(
    ctx: CommandContext,
    zone_id: UUID | None = None,
    scope: Scope | None = None,
    kind: Kind | None = None,
) -> list[CapacityEntry]:
    await ctx.authorize(Action("capacity.read", "zone", zone_id, mutating=False))
    async with ctx.db.conn() as conn:
        entries = await usage.summary(conn, zone_id)
    return [e for e in entries if scope in (None, e.scope) and kind in (None, e.kind)]


async def list_alerts(ctx: CommandContext, *, active_only: bool, limit: int) -> list[AlertView]:
    await ctx.authorize(Action("alert.read", "alert", None, mutating=False))
    async with ctx.db.conn() as conn:
        rows = await alerts.listing(conn, active_only=active_only, limit=limit)
    return [AlertView.model_validate(r) for r in rows]


async def evaluate_alerts(db: Database, thresholds: dict[str, float]) -> tuple[int, int]:
    """Raise a ``capacity-<kind>`` alert for each entry at or over its kind's threshold
    (at the kind's alert scope), clear those back under. Returns (raised, cleared)."""
    raised = cleared = 0
    async with db.tx() as conn:
        entries = await usage.summary(conn)
        active = await alerts.active_kinds(conn, "capacity-")
        for e in entries:
            if e.kind not in KINDS or ALERT_SCOPE[e.kind] != e.scope or e.total <= 0:
                continue
            limit = thresholds.get(e.kind, 1.0)
            kind = f"capacity-{e.kind}"
            ratio = e.allocated / e.total
            if ratio >= limit:
                detail = (
                    f"{e.scope} {e.name}: {e.kind} {e.percent:.1f}% allocated "
                    f"({e.allocated} of {e.total} {e.unit}), at or over {limit:.0%}"
                )
                raised += await alerts.raise_alert(conn, kind, e.scope, e.id, e.name, detail)
            elif (kind, e.id) in active:
                detail = f"{e.scope} {e.name}: {e.kind} back to {e.percent:.1f}% allocated"
                cleared += await alerts.clear_alert(conn, kind, e.id, detail)
    return raised, cleared


async def vm_usage(ctx: CommandContext, vm_id: UUID) -> VmUsage:
    await ctx.authorize(Action("vm.stats", "vm", vm_id, mutating=False))
    async with ctx.db.conn() as conn:
        await repository.get(conn, VMS, vm_id)  # 404 for a VM that does not exist
        row = await stats.vm(conn, vm_id)
    if row is None:
        raise NotFound(
            f"VM {vm_id} has no sample yet: a running VM is sampled with its host's heartbeats",
            id=str(vm_id),
        )
    return VmUsage.model_validate(row)


async def host_usage(ctx: CommandContext, host_id: UUID) -> HostUsage:
    await ctx.authorize(Action("host.stats", "host", host_id, mutating=False))
    async with ctx.db.conn() as conn:
        await repository.get(conn, HOSTS, host_id)
        return HostUsage.model_validate(await stats.host(conn, host_id, fresh_s=600.0))
