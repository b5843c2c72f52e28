"""Data-service activities of the VM lifecycle: state, locks, planning, claims, IPAM.

All idempotent (a retry converges to the same rows) and run as local activities on the
orchestrator worker. Domain errors become non-retryable ApplicationErrors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.activities.collect import activities_of
from strato.activities.compute.migration_records import MigrationRecordsActivities
from strato.activities.compute.vm_snapshot_records import VmSnapshotActivities
from strato.activities.compute.vm_volumes import VmVolumeActivities
from strato.activities.intx import InTransaction, permanent
from strato.domain.compute.payloads import (
    Placement,
    PlaceResult,
    PlanInput,
    PoolPlacement,
    RestoredInput,
    ScaleClaimInput,
    ScaleClaimResult,
    VmBeginInput,
    VmContext,
    VmFailSafeInput,
    VmFinishInput,
    VmIsoInput,
    VmRef,
)
from strato.domain.compute.placement import HostCandidate, PlanRequest
from strato.domain.compute.steps import (
    VM_ALLOCATE_NICS,
    VM_BEGIN,
    VM_CLAIM_POOL,
    VM_DESTROY_EXPUNGE,
    VM_EXPUNGE_BEGIN,
    VM_EXPUNGED,
    VM_FAIL_SAFE,
    VM_FINISH,
    VM_PLACE,
    VM_PLAN_CLAIM,
    VM_RELEASE_HOST,
    VM_RELEASE_NICS,
    VM_RELEASE_POOL,
    VM_RESTORED,
    VM_SCALE_CLAIM,
    VM_SET_ISO,
)
from strato.domain.errors import InsufficientCapacity, NotFound
from strato.domain.network.payloads import NicInfo
from strato.domain.states import VmState, VolumeState
from strato.domain.storage.payloads import VolumeReadyInput
from strato.domain.storage.steps import VOLUME_READY, VOLUMES_EXPUNGED
from strato.drivers.registry import load
from strato.schema import repository
from strato.schema.compute import capacity, vm_snapshots, vms
from strato.schema.network import ipam
from strato.schema.storage import backups, pools, snapshots, volumes
from strato.schema.tables import SERVICE_OFFERINGS

# Hosts a decision first considers (those that fit, by the planner's order); the whole
# zone only when none of them can be claimed.
SHORTLIST = 200


class VmRecordsActivities(InTransaction):
    @activity.defn(name=VM_BEGIN.name)
    async def vm_begin(self, inp: VmBeginInput) -> VmContext:
        """Enter the operation's transitional state; return what the workflow needs."""

        async def run(conn: Any) -> VmContext:
            target = VmState(inp.target) if inp.target else None
            began = await vms.begin(conn, inp.vm_id, inp.operation_id, target, inp.only_from)
            ctx = await vms.context(conn, inp.vm_id)
            return ctx if began else ctx.model_copy(update={"finished": True})

        return await self._tx(run)

    @activity.defn(name=VM_EXPUNGE_BEGIN.name)
    async def vm_expunge_begin(self, inp: VmRef) -> VmContext | None:
        """Lock and enter Expunging; None when there is nothing to expunge."""
        op = inp.operation_id
        assert op is not None

        async def run(conn: Any) -> VmContext | None:
            began = await vms.begin_expunge(conn, inp.vm_id, op)
            if began is None:
                return None
            ctx = await vms.context(conn, inp.vm_id)
            return ctx if began else ctx.model_copy(update={"finished": True})

        return await self._tx(run)

    @activity.defn(name=VM_DESTROY_EXPUNGE.name)
    async def vm_destroy_expunge(self, inp: VmRef) -> VmContext | None:
        """Release the host claim, record the VM Destroyed and enter Expunging, keeping this
        operation's lock throughout: one step for what a destroy with expunge does between
        its stop and its expunge. Idempotent (a VM already Expunging under this operation
        is returned as it is)."""
        op = inp.operation_id
        assert op is not None

        async def run(conn: Any) -> VmContext | None:
            row = await vms.context(conn, inp.vm_id)
            if row.state != VmState.EXPUNGING:
                await capacity.release_host(conn, inp.vm_id)
                await vms.finish(
                    conn,
                    VmFinishInput(
                        vm_id=inp.vm_id,
                        operation_id=op,
                        target=VmState.DESTROYED,
                        clear_host=True,
                        destroyed=True,
                        expunge_delay_s=0.0,
                        keep_lock=True,
                    ),
                )
            began = await vms.begin_expunge(conn, inp.vm_id, op)
            if began is None:
                return None
            ctx = await vms.context(conn, inp.vm_id)
            return ctx if began else ctx.model_copy(update={"finished": True})

        return await self._tx(run)

    @activity.defn(name=VM_EXPUNGED.name)
    async def vm_expunged(self, inp: VmFinishInput) -> VmContext:
        """The last step of an expunge: storage claims released, volumes Expunged, NICs
        and addresses released, the VM Expunged and unlocked; one transaction."""

        async def run(conn: Any) -> VmContext:
            await _expunge_root_detach_data(conn, inp.vm_id, inp.operation_id)
            await ipam.release_nics(conn, inp.vm_id)
            await vms.finish(conn, inp)
            return await vms.context(conn, inp.vm_id)

        return await self._tx(run)

    @activity.defn(name=VM_FINISH.name)
    async def vm_finish(self, inp: VmFinishInput) -> VmContext:
        async def run(conn: Any) -> VmContext:
            if inp.volume_id is not None:
                await volumes.set_state(
                    conn, inp.volume_id, VolumeState.READY, path=inp.volume_path
                )
            await vms.finish(conn, inp)
            return await vms.context(conn, inp.vm_id)

        return await self._tx(run)

    @activity.defn(name=VM_FAIL_SAFE.name)
    async def vm_fail_safe(self, inp: VmFailSafeInput) -> bool:
        """An operation failed in a way its code did not handle: settle the VM and free
        its lock (see :func:`strato.schema.compute.vms.fail_safe`). Idempotent."""
        op = inp.operation_id
        assert op is not None
        return await self._tx(lambda c: vms.fail_safe(c, inp.vm_id, op, inp.error, inp.kind))

    @activity.defn(name=VM_PLACE.name)
    async def vm_place(self, inp: PlanInput) -> PlaceResult:
        """One boot attempt's placement in one step: the VM's NICs (allocated once), a host
        claim (as vm_plan_claim) and a storage claim on a pool that host reaches. When no
        such pool has room the host claim is released and the result says why.
        Idempotent: each part finds what an earlier attempt of this step made."""
        nics = await self.vm_allocate_nics(VmRef(vm_id=inp.vm_id, operation_id=inp.operation_id))
        placement = await self.vm_plan_claim(inp)

        async def claim(conn: Any) -> PlaceResult:
            ctx = await vms.context(conn, inp.vm_id)
            if ctx.root_volume_id is None:
                raise NotFound(f"VM {inp.vm_id} has no root volume")
            pool = await pools.claim_pool(conn, ctx.root_volume_id, placement.host_id)
            if pool is not None:
                return PlaceResult(placement=placement, pool=pool, nics=nics)
            await capacity.release_host(conn, inp.vm_id)
            return PlaceResult(
                placement=placement,
                nics=nics,
                pool_error=f"no primary pool reachable from the host has "
                f"{ctx.root_size_bytes} bytes free",
            )

        return await self._tx(claim)

    @activity.defn(name=VM_PLAN_CLAIM.name)
    async def vm_plan_claim(self, inp: PlanInput) -> Placement:
        """Plan with the zone's (or offering's) planner, then claim host by host in that
        order until one claim holds. Raises insufficient-capacity naming every reason."""
        async with self.db.tx() as conn:
            # Idempotent: a retry of this step (after a timeout, a worker crash) finds the
            # claim its earlier attempt made and returns it instead of claiming again.
            held = await capacity.current_claim(conn, inp.vm_id)
            if held is not None and held[0] not in inp.avoid:
                return Placement(host_id=held[0], host_name=held[1])
            if held is not None:
                await capacity.release_host(conn, inp.vm_id)
        async with self.db.conn() as conn:
            row = await capacity.placement_ask(conn, inp.vm_id)
            if row is None:
                raise permanent(NotFound(f"VM {inp.vm_id} does not exist"))
            rules = await capacity.affinity_rules(conn, inp.vm_id)
            pinned = await volumes.pinned_clusters(conn, inp.vm_id)
        seed = int(hashlib.sha256(str(inp.vm_id).encode()).hexdigest()[:8], 16)
        req = PlanRequest(
            cpu_mhz=row["cpu"],
            memory_mb=row["memory_mb"],
            host_tags=list(row["host_tags"]),
            avoid=inp.avoid,
            prefer_host_id=inp.prefer_host_id,
            affinity=rules,
            seed=seed,
        )
        planner = load("planner", row["planner"])()
        shortlist = capacity.Shortlist(
            cpu_mhz=req.cpu_mhz,
            memory_mb=req.memory_mb,
            host_tags=req.host_tags,
            avoid=req.avoid,
            prefer=req.prefer_host_id,
            limit=SHORTLIST,
            random=row["planner"] == "random",
        )
        # First over a shortlist of hosts that fit; then, if nothing was placed, over
        # every host (which also gives the full explanation of a failure).
        for listed in (shortlist, None):
            async with self.db.conn() as conn:
                hosts = await capacity.candidates(
                    conn, row["zone_id"], owner=row["owner"], shortlist=listed
                )
            hosts, unreachable = _reaching(hosts, pinned)
            outcome = planner.plan(req, hosts)
            outcome.excluded.update(unreachable)
            lost: dict[str, str] = {}
            for host in outcome.ordered:
                async with self.db.tx() as conn:
                    why = await capacity.claim_host(
                        conn, inp.vm_id, host.id, req.cpu_mhz, req.memory_mb
                    )
                if why is None:
                    return Placement(host_id=host.id, host_name=host.name, considered=len(hosts))
                lost[host.name] = why
        outcome.excluded.update(lost)
        err = InsufficientCapacity(
            f"no host can take {req.cpu_mhz} MHz / {req.memory_mb} MiB: {outcome.explain()}"
        )
        raise ApplicationError(err.detail, type=err.type, non_retryable=True)

    @activity.defn(name=VM_RELEASE_HOST.name)
    async def vm_release_host(self, inp: VmRef) -> bool:
        return await self._tx(lambda c: capacity.release_host(c, inp.vm_id)) is not None

    @activity.defn(name=VM_CLAIM_POOL.name)
    async def vm_claim_pool(self, inp: PlanInput) -> PoolPlacement:
        """Claim primary storage for the root volume on a pool the placed host reaches."""

        async def run(conn: Any) -> PoolPlacement:
            ctx = await vms.context(conn, inp.vm_id)
            if ctx.root_volume_id is None or inp.prefer_host_id is None:
                raise NotFound(f"VM {inp.vm_id} has no root volume or no host to reach it from")
            placed = await pools.claim_pool(conn, ctx.root_volume_id, inp.prefer_host_id)
            if placed is None:
                raise InsufficientCapacity(
                    f"no primary pool reachable from the host has {ctx.root_size_bytes} bytes free"
                )
            return placed

        return await self._tx(run)

    @activity.defn(name=VM_RELEASE_POOL.name)
    async def vm_release_pool(self, inp: VmRef) -> None:
        async def run(conn: Any) -> None:
            # Only the root volume a boot attempt created: data volumes keep their files.
            for vol in await volumes.roots_of(conn, inp.vm_id):
                await pools.release_pool(conn, vol.id)
                await volumes.set_state(conn, vol.id, VolumeState.ALLOCATED)

        await self._tx(run)

    @activity.defn(name=VM_ALLOCATE_NICS.name)
    async def vm_allocate_nics(self, inp: VmRef) -> list[NicInfo]:
        async def run(conn: Any) -> list[NicInfo]:
            ctx = await vms.context(conn, inp.vm_id)
            return await ipam.allocate_default_nic(conn, inp.vm_id, ctx.zone_id)

        return await self._tx(run)

    @activity.defn(name=VM_RELEASE_NICS.name)
    async def vm_release_nics(self, inp: VmRef) -> int:
        return await self._tx(lambda c: ipam.release_nics(c, inp.vm_id))

    @activity.defn(name=VM_RESTORED.name)
    async def vm_restored(self, inp: RestoredInput) -> None:
        await self._tx(lambda c: backups.restored(c, inp.vm_id, inp.operation_id, inp.paths))

    @activity.defn(name=VM_SET_ISO.name)
    async def vm_set_iso(self, inp: VmIsoInput) -> None:
        await self._tx(
            lambda c: vms.set_iso(c, inp.vm_id, inp.iso_id, inp.iso_path, inp.operation_id)
        )

    @activity.defn(name=VOLUME_READY.name)
    async def volume_ready(self, inp: VolumeReadyInput) -> None:
        await self._tx(
            lambda c: volumes.set_state(c, inp.volume_id, VolumeState.READY, path=inp.path)
        )

    @activity.defn(name=VOLUMES_EXPUNGED.name)
    async def volumes_expunged(self, inp: VmRef) -> None:
        await self._tx(lambda c: _expunge_root_detach_data(c, inp.vm_id, inp.operation_id))

    @activity.defn(name=VM_SCALE_CLAIM.name)
    async def vm_scale_claim(self, inp: ScaleClaimInput) -> ScaleClaimResult:
        """Record the new offering; for a live scale, resize the host claim first."""

        async def run(conn: Any) -> ScaleClaimResult:
            offering = await repository.get(conn, SERVICE_OFFERINGS, inp.service_offering_id)
            if inp.live:
                why = await capacity.resize_claim(
                    conn,
                    inp.vm_id,
                    offering.cpu_count * offering.cpu_speed_mhz,
                    offering.memory_mb,
                )
                if why is not None:
                    raise InsufficientCapacity(why)
            await vms.set_offering(
                conn,
                inp.vm_id,
                offering.id,
                offering.cpu_count,
                offering.cpu_speed_mhz,
                offering.memory_mb,
            )
            return ScaleClaimResult(
                cpu_count=offering.cpu_count,
                cpu_speed_mhz=offering.cpu_speed_mhz,
                memory_mb=offering.memory_mb,
                applied=True,
            )

        return await self._tx(run)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)


def _reaching(
    hosts: list[HostCandidate], pinned: dict[UUID, str]
) -> tuple[list[HostCandidate], dict[str, str]]:
    """The hosts that reach the pools holding the VM's volumes, and why the others not."""
    if not pinned:
        return hosts, {}
    pools_named = ", ".join(sorted(pinned.values()))
    if len(pinned) > 1:
        why = f"the VM's volumes are on pools of different clusters ({pools_named})"
        return [], {h.name: why for h in hosts}
    ok = [h for h in hosts if h.cluster_id in pinned]
    why = f"does not reach pool {pools_named}, which holds the VM's volumes"
    return ok, {h.name: why for h in hosts if h.cluster_id not in pinned}


async def _expunge_root_detach_data(conn: Any, vm_id: Any, operation_id: Any) -> None:
    """An expunged VM's root volume goes with it (claim released, Expunged); its data
    volumes stay, detached (CloudStack's default: deleting them is their own operation)."""
    for vol in await volumes.roots_of(conn, vm_id):
        await pools.release_pool(conn, vol.id)
        await volumes.set_state(conn, vol.id, VolumeState.EXPUNGED)
        await snapshots.destroy_all(conn, vol.id, operation_id)  # they were in its file
    await volumes.detach_all_data(conn, vm_id, operation_id)
    await vm_snapshots.removed_with_vm(conn, vm_id, operation_id)  # they were on its disks


DATA_SERVICE: list[Any] = [
    VmRecordsActivities,
    VmVolumeActivities,
    VmSnapshotActivities,
    MigrationRecordsActivities,
]
