"""The managed-service reconciler's steps (Temporal activities on the orchestrator):
read a round's observation, record its health checks (and the directory), and apply its
plan through the command layer: each instance is deployed and destroyed as an ordinary
operation, with the API's locks, validation, limits and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client

from strato.activities.collect import activities_of
from strato.commands.auth import Caller
from strato.commands.compute import VmDestroy, act_on_vm, deploy_vm
from strato.commands.context import CommandContext
from strato.commands.fleet import deploy_body
from strato.domain.directory.models import Endpoint, ServiceRegister
from strato.domain.errors import NotFound, StratoError
from strato.domain.fleet.flows import (
    FLEET_APPLY,
    FLEET_HEALTH,
    FLEET_OBSERVE,
    Applied,
    ApplyInput,
    HealthInput,
    Observation,
    ServiceRef,
)
from strato.domain.fleet.models import ManagedService
from strato.domain.fleet.plan import Observed, Retirement
from strato.schema.db import Database
from strato.schema.directory import registry
from strato.schema.fleet import services
from strato.settings import Settings


def directory_entry(svc: ManagedService, inst: Observed) -> ServiceRegister:
    """How a serving instance is listed: kind = the service's name; a TTL check the
    reconciler beats each round (a reconciler that stops leaves its instances critical)."""
    check = svc.health
    endpoints = []
    if inst.address:
        host = f"[{inst.address}]" if ":" in inst.address else inst.address
        url = (
            f"http://{host}:{check.port}{check.path}"
            if check.kind == "http"
            else f"tcp://{host}:{check.port}"
        )
        endpoints.append(Endpoint(url=url, protocol=check.kind))
    return ServiceRegister(
        name=f"{svc.name}@{inst.vm_name}",
        kind=svc.name,
        version=svc.release,
        endpoints=endpoints,
        metadata={"vm_id": str(inst.vm_id), "managed_service_id": str(svc.id)},
        ttl_s=max(10, int(3 * check.interval_s) + 5),
        deregister_after_s=60,
    )


class FleetActivities:
    def __init__(self, db: Database, client: Client, settings: Settings) -> None:
        self.db = db
        self.client = client
        self.settings = settings

    @activity.defn(name=FLEET_OBSERVE.name)
    async def observe(self, ref: ServiceRef) -> Observation:
        async with self.db.tx() as conn:
            return await services.observe(conn, ref.service_id)

    @activity.defn(name=FLEET_HEALTH.name)
    async def health(self, inp: HealthInput) -> Observation:
        """Record the round's checks, list the serving instances in the directory and
        withdraw the others, and say what the round saw. Idempotent enough to retry: a
        check counted twice only hastens a replacement the next check would make."""
        async with self.db.tx() as conn:
            obs = await services.observe(conn, inp.service_id)
            svc = obs.service
            if svc is None:
                return obs
            instances = await services.record_health(conn, svc, obs.instances, inp.outcomes)
            for inst in instances:
                name = f"{svc.name}@{inst.vm_name}"
                if inst.serving and svc.state == "Active":
                    await registry.register(conn, directory_entry(svc, inst))
                    await services.set_directory_name(conn, inst.vm_id, name)
                elif (
                    inst.health in ("failing", "retiring") or inst.lost or svc.state != "Active"
                ) and await registry.withdraw(conn, name, f"{inst.health}: {inst.detail}"):
                    await services.set_directory_name(conn, inst.vm_id, None)
            await services.set_status(conn, svc.id, instances)
        return obs.model_copy(update={"instances": instances})

    def _context(self, svc: ManagedService) -> CommandContext:
        caller = Caller(name=f"managed-service:{svc.name}", scope="admin")
        return CommandContext(self.db, self.client, self.settings, caller)

    async def _retire(self, ctx: CommandContext, svc: ManagedService, r: Retirement) -> bool:
        """Withdraw the instance from the directory, then destroy its VM (expunged).
        False when its VM cannot be destroyed now (busy): the next round tries again."""
        async with self.db.tx() as conn:
            name = await services.retiring(conn, svc.id, r.vm_id, r.reason, r.failed)
            if name:
                await registry.withdraw(conn, name, f"retired: {r.reason}")
                await services.set_directory_name(conn, r.vm_id, None)
        return await self._destroy(ctx, r.vm_id)

    async def _destroy(self, ctx: CommandContext, vm_id: Any) -> bool:
        # No Idempotency-Key: a repeat finds the VM busy or destroyed already (409),
        # which is what a retry of this step must accept anyway.
        for verb, body in (("destroy", VmDestroy(expunge=True)), ("expunge", None)):
            try:
                await act_on_vm(ctx, vm_id, verb, body, None)
                return True
            except NotFound:
                async with self.db.tx() as conn:
                    await services.forget(conn, vm_id)
                return True
            except StratoError:
                continue  # busy, or already destroyed (then the expunge below)
        return False

    @activity.defn(name=FLEET_APPLY.name)
    async def apply(self, inp: ApplyInput) -> Applied:
        """The plan: the new desired count, retirements, then deploys (each an operation
        of its own, under an Idempotency-Key the workflow fixed, of a request made from
        the service as the plan saw it, so a retry of this step deploys nothing twice),
        and a finished rollout or deletion recorded. A service deleted meanwhile gets no
        deploy and no scaling."""
        plan = inp.plan
        async with self.db.tx() as conn:
            svc = await services.find(conn, inp.service_id)
            if svc is None:
                return Applied(gone=True)
            active = svc.state == "Active"
            if active and plan.scale_reason is not None:
                await services.scaled(conn, svc.id, plan.was, plan.desired, plan.scale_reason)
            leftovers = await services.stuck_retirements(conn, svc.id)
        seen = inp.service or svc
        ctx = self._context(svc)
        out = Applied()
        for r in plan.retire:
            activity.heartbeat()
            if await self._retire(ctx, svc, r):
                out.retired.append(r.vm_id)
        for vm_id in leftovers:
            activity.heartbeat()
            await self._destroy(ctx, vm_id)
        for key in inp.deploy_keys[: plan.deploy] if active else []:
            activity.heartbeat()
            body = deploy_body(seen, f"{seen.name}-{key[:8]}", seen.affinity_group_id)
            try:
                accepted = await deploy_vm(ctx, body, f"managed-service:{svc.id}:{key}")
            except StratoError as err:
                out.refused.append(err.detail)
                continue
            new_vm = accepted.operation.resource_id
            if new_vm is not None:
                async with self.db.tx() as conn:
                    await services.add_instance(conn, seen, new_vm)
                out.deployed.append(new_vm)
        async with self.db.tx() as conn:
            if out.refused:
                await services.set_error(conn, svc.id, out.refused[0])
            elif out.deployed:
                await services.set_error(conn, svc.id, None)
            if plan.rollout_done:
                await services.rollout_finished(conn, svc.id, seen.release)
            if plan.gone and svc.state == "Deleting":
                await services.remove(conn, svc)
                out.gone = True
        return out

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
