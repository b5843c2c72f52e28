"""Managed services (the services framework): a definition is checked whole, written,
and handed to its reconciler (one long-running workflow per service, started with a
signal so a request can never leave a service without one). Scale, rollout and delete
change the definition and wake the reconciler; the reconciler does the work, through the
ordinary deploy and destroy commands (:mod:`strato.commands.fleet_steps`)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from strato.commands.auth import Action
from strato.commands.compute import VmDeploy, check_deploy
from strato.commands.context import CommandContext
from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.fleet import flows
from strato.domain.fleet.models import (
    ManagedService,
    MetricReport,
    ServiceDefinition,
    ServiceRollout,
    ServiceScale,
    ServiceStatus,
    check_bounds,
)
from strato.schema import events, repository
from strato.schema.compute.vms import AFFINITY_GROUPS
from strato.schema.db import Database
from strato.schema.fabric import audit
from strato.schema.fleet import services
from strato.schema.fleet.services import MANAGED_SERVICES
from strato.schema.network.ipam import NETWORKS
from strato.workflows.common.search_attributes import typed

log = logging.getLogger(__name__)

OWNER_PREFIX = "service:"  # the owner of a managed service's VMs and affinity group


def deploy_body(svc: ManagedService | ServiceDefinition, name: str, group: UUID | None) -> VmDeploy:
    """The deploy request of one instance (what the reconciler sends)."""
    return VmDeploy(
        name=name,
        display_name=f"{svc.name} {svc.release}",
        zone_id=svc.zone_id,
        service_offering_id=svc.service_offering_id,
        template_id=svc.template_id,
        owner=f"{OWNER_PREFIX}{svc.name}",
        affinity_group_ids=[group] if group else [],
        network_ids=list(svc.network_ids),
    )


async def _check_refs(conn: Any, svc: ManagedService | ServiceDefinition) -> None:
    await check_deploy(conn, deploy_body(svc, f"{svc.name}-check", None))
    for net_id in svc.network_ids:
        try:
            net = await repository.get(conn, NETWORKS, net_id)
        except NotFound as err:
            raise InvalidInput(f"network_ids: {err.detail}", field="network_ids") from err
        if net.zone_id != svc.zone_id:
            raise InvalidInput(
                f"network_ids: network {net.name} is in another zone", field="network_ids"
            )


async def wake(client: Client, queue: str, service_id: UUID, *, signal: bool = True) -> None:
    """Signal the service's reconciler (a round now), starting it if it does not run;
    without ``signal``, only start it if it does not run."""
    try:
        await _start(client, queue, service_id, signal)
    except RPCError as err:
        # The change is saved; the orchestrator's sweep starts a missing reconciler
        # within a minute, and a running one sees the change at its next round.
        log.warning("managed service %s: could not wake its reconciler (%s)", service_id, err)


async def _start(client: Client, queue: str, service_id: UUID, signal: bool) -> None:
    await client.start_workflow(
        flows.MANAGED_SERVICE.name,
        flows.ServiceRef(service_id=service_id),
        id=flows.workflow_id(service_id),
        task_queue=queue,
        start_signal=flows.WAKE if signal else None,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=typed(
            {"StratoResourceType": "managed_service", "StratoResourceId": str(service_id)}
        ),
    )


async def create(ctx: CommandContext, body: ServiceDefinition) -> ManagedService:
    await ctx.authorize(Action("managed-service.create", "managed_service"))
    async with ctx.db.tx() as conn:
        await _check_refs(conn, body)
        if await repository.find_by_name(conn, MANAGED_SERVICES, body.name) is not None:
            raise Conflict(
                f"a managed service named {body.name!r} exists: change it with scale or "
                "rollout, or delete it first",
                field="name",
            )
        group = None
        if body.anti_affinity != "none":
            group = await repository.insert(
                conn,
                AFFINITY_GROUPS,
                {
                    "name": f"{body.name}-spread",
                    "owner": f"{OWNER_PREFIX}{body.name}",
                    "kind": "host-anti-affinity",
                    "strict": body.anti_affinity == "required",
                },
            )
        values = body.model_dump(mode="json", exclude={"desired"})
        values |= {
            "zone_id": body.zone_id,
            "template_id": body.template_id,
            "service_offering_id": body.service_offering_id,
            "network_ids": list(body.network_ids),
            "desired": body.desired if body.desired is not None else body.min_instances,
            "affinity_group_id": group.id if group else None,
        }
        svc = await repository.insert(conn, MANAGED_SERVICES, values)
    await wake(ctx.temporal, ctx.settings.orchestration_queue, svc.id)
    return svc


async def _change(ctx: CommandContext, service_id: UUID, changes: dict[str, Any]) -> ManagedService:
    async with ctx.db.tx() as conn:
        svc = await repository.update(conn, MANAGED_SERVICES, service_id, changes)
    await wake(ctx.temporal, ctx.settings.orchestration_queue, svc.id)
    return svc


async def _active(conn: Any, service_id: UUID) -> ManagedService:
    svc = await repository.get(conn, MANAGED_SERVICES, service_id, for_update=True)
    if svc.state != "Active":
        raise Conflict(f"managed service {svc.name} is being deleted")
    return svc


async def scale(ctx: CommandContext, service_id: UUID, body: ServiceScale) -> ManagedService:
    await ctx.authorize(Action("managed-service.scale", "managed_service", service_id))
    async with ctx.db.tx() as conn:
        svc = await _active(conn, service_id)
        low = body.min_instances if body.min_instances is not None else svc.min_instances
        high = body.max_instances if body.max_instances is not None else svc.max_instances
        desired = body.desired if body.desired is not None else min(max(svc.desired, low), high)
        try:
            check_bounds(low, high, desired)
        except ValueError as err:
            raise InvalidInput(str(err)) from err
        if high < 1:
            raise InvalidInput("max_instances must be at least 1", field="max_instances")
        changes: dict[str, Any] = {"min_instances": low, "max_instances": high, "desired": desired}
        if desired != svc.desired:
            # A person's scale starts a cooldown too: autoscale does not undo it at once.
            changes["last_scaled_at"] = await audit.now(conn)
        updated = await repository.update(conn, MANAGED_SERVICES, service_id, changes)
        if desired != svc.desired:
            await events.append(
                conn,
                "strato.managed_service.scaled",
                "managed_service",
                service_id,
                payload={"old": svc.desired, "new": desired, "reason": f"by {ctx.caller.name}"},
            )
    await wake(ctx.temporal, ctx.settings.orchestration_queue, service_id)
    return updated


async def rollout(ctx: CommandContext, service_id: UUID, body: ServiceRollout) -> ManagedService:
    await ctx.authorize(Action("managed-service.rollout", "managed_service", service_id))
    async with ctx.db.tx() as conn:
        svc = await _active(conn, service_id)
        if body.release == svc.release:
            raise Conflict(
                f"managed service {svc.name} runs release {svc.release} already: a rollout "
                "needs a new release",
                field="release",
            )
        new = svc.model_copy(
            update={
                "release": body.release,
                "template_id": body.template_id or svc.template_id,
                "service_offering_id": body.service_offering_id or svc.service_offering_id,
            }
        )
        await _check_refs(conn, new)
        strategy = svc.strategy
        if body.max_unavailable is not None:
            strategy = strategy.model_copy(update={"max_unavailable": body.max_unavailable})
        changes = {
            "release": new.release,
            "previous_release": svc.release,
            "template_id": new.template_id,
            "service_offering_id": new.service_offering_id,
            "strategy": strategy.model_dump(mode="json"),
        }
        updated = await repository.update(conn, MANAGED_SERVICES, service_id, changes)
        await events.append(
            conn,
            "strato.managed_service.rollout_started",
            "managed_service",
            service_id,
            payload={"release": body.release, "previous": svc.release},
        )
    await wake(ctx.temporal, ctx.settings.orchestration_queue, service_id)
    return updated


async def delete(ctx: CommandContext, service_id: UUID) -> ManagedService:
    """Mark it Deleting: its reconciler retires every instance, then removes it."""
    await ctx.authorize(Action("managed-service.delete", "managed_service", service_id))
    return await _change(ctx, service_id, {"state": "Deleting"})


async def report_metric(ctx: CommandContext, service_id: UUID, body: MetricReport) -> None:
    await ctx.authorize(Action("managed-service.report", "managed_service", service_id))
    async with ctx.db.tx() as conn:
        svc = await repository.get(conn, MANAGED_SERVICES, service_id)
        if body.name not in svc.metrics:
            known = ", ".join(svc.metrics) or "none"
            raise InvalidInput(
                f"name: {svc.name} declares no metric {body.name!r} (declared: {known})",
                field="name",
            )
        await services.report_metric(conn, service_id, body.name, body.value)


async def status(db: Database, service_id: UUID) -> ServiceStatus:
    async with db.conn() as conn:
        svc = await repository.get(conn, MANAGED_SERVICES, service_id)
        return ServiceStatus(
            service=svc,
            instances=await services.instance_views(conn, service_id),
            metrics=await services.metrics(conn, svc),
        )


async def ensure_reconcilers(db: Database, client: Client, queue: str) -> int:
    """Start the reconciler of any service without one (a crash between a command's
    write and its signal). Idempotent; returns how many services it looked at."""
    async with db.conn() as conn:
        ids = await services.every_id(conn)
    for service_id in ids:
        await wake(client, queue, service_id, signal=False)
    return len(ids)
