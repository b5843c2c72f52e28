"""Placing and booting a VM: the part of DeployVm and StartVm that picks a host, prepares
the root volume and boots, retrying elsewhere when a host fails.

Two shapes live here, because workflows already running replay the steps they began with:
``place_and_boot`` (NICs, plan + claim host, claim pool, create volume, volume ready,
define + start: 4 local and 2 host steps) and, for runs started since the patch
``place-in-one-step``, ``place_and_boot_merged`` (one local step places the VM: NICs,
host and pool claims in one activity; the volume is marked Ready by the finishing step:
1 local and 2 host steps).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from strato.domain.compute.payloads import (
        Placement,
        PlanInput,
        PoolPlacement,
        VmContext,
        VmResult,
    )
    from strato.domain.compute.specs import BootSpec, ConsoleInfo, DiskSpec, NicSpec, VmSpec
    from strato.domain.compute.steps import (
        DEFINE_AND_START_VM,
        VM_CLAIM_POOL,
        VM_PLACE,
        VM_PLAN_CLAIM,
        VM_RELEASE_HOST,
        VM_RELEASE_POOL,
    )
    from strato.domain.network.payloads import NicInfo
    from strato.domain.storage.payloads import VolumeReadyInput
    from strato.domain.storage.specs import VolumeInfo, VolumeSpec
    from strato.domain.storage.steps import CREATE_VOLUME, VOLUME_READY
    from strato.workflows.common.failures import cancelled, error_type, failure_reason
    from strato.workflows.common.progress import Steps
    from strato.workflows.compute.vm_steps import VmOps
    from strato.workflows.storage.template_cache import ensure_cached

PLACE_IN_ONE_STEP = "place-in-one-step"
# Runs started since this patch boot a root volume that has its file as it is: no
# template cache step (a restored root is no clone, and its template may be gone).
READY_ROOT_AS_IS = "ready-root-as-is"


async def finish_running(
    ops: VmOps, steps: Steps, placement: Placement, attempts: list[str]
) -> VmResult:
    """The last step of a successful boot (deploy or start)."""
    steps.enter("running")
    await ops.finish(
        "Running",
        host_id=placement.host_id,
        console=placement.console,
        volume_id=placement.volume_id,
        volume_path=placement.volume_path,
    )
    steps.finish(f"running on {placement.host_name}")
    return VmResult(
        vm_id=ops.ref.vm_id,
        state="Running",
        host_id=placement.host_id,
        host_name=placement.host_name,
        attempts=attempts,
    )


def vm_spec(ctx: VmContext, disk_path: str, nics: list[NicInfo]) -> VmSpec:
    boot = ctx.boot or {}
    return VmSpec(
        name=ctx.hypervisor_name,
        uuid=str(ctx.vm_id),
        cpu_count=ctx.cpu_count,
        cpu_speed_mhz=ctx.cpu_speed_mhz,
        memory_mb=ctx.memory_mb,
        disks=[DiskSpec(path=disk_path), *ctx.data_disks],
        nics=[NicSpec(mac=n.mac, network=n.network_name, device=n.device) for n in nics],
        boot=BootSpec(
            kernel=boot.get("kernel"),
            initrd=boot.get("initrd"),
            cmdline=str(boot.get("cmdline", "")),
        ),
        metadata={"vm": ctx.name, "owner": ctx.owner},
        cdrom=ctx.iso_path,
    )


class BootFailed(Exception):
    def __init__(self, attempts: list[str], kind: str) -> None:
        super().__init__("; ".join(attempts))
        self.attempts = attempts
        self.kind = kind


async def place_and_boot(
    ops: VmOps,
    ctx: VmContext,
    nics: list[NicInfo],
    steps: Steps,
    *,
    max_hosts: int,
    prefer_host: UUID | None = None,
) -> tuple[Placement, list[str]]:
    """Plan, claim, prepare the root volume, define and start; on a failed host, undo
    that attempt and retry elsewhere with the host avoided. Raises BootFailed."""
    avoid: list[UUID] = []
    attempts: list[str] = []
    kind = "deploy-failed"
    for n in range(1, max_hosts + 1):
        steps.enter("plan and claim", f"attempt {n} of {max_hosts}")
        try:
            placement = await ops.local(
                VM_PLAN_CLAIM,
                PlanInput(**ops.ref.model_dump(), avoid=avoid, prefer_host_id=prefer_host),
            )
        except FailureError as err:
            attempts.append(f"planning: {failure_reason(err)}")
            kind = error_type(err)
            break
        host = placement.host_name
        pool: PoolPlacement | None = None
        try:
            steps.enter("prepare root volume", f"for {host}")
            pool = await ops.local(
                VM_CLAIM_POOL,
                PlanInput(**ops.ref.model_dump(), prefer_host_id=placement.host_id),
            )
            info = await _create_volume(ops, ctx, pool)
            await ops.local(
                VOLUME_READY, VolumeReadyInput(volume_id=pool.volume_id, path=info.path)
            )
            steps.enter("define and start", host)
            console = await _define_and_start(ops, ctx, host, info.path, nics)
            return placement.model_copy(update={"console": console}), attempts
        except FailureError as err:
            kind = await _failed_attempt(ops, ctx, steps, err, host, pool, attempts)
            avoid.append(placement.host_id)
    raise BootFailed(attempts, kind)


async def place_and_boot_merged(
    ops: VmOps,
    ctx: VmContext,
    steps: Steps,
    *,
    max_hosts: int,
    prefer_host: UUID | None = None,
    root_as_is: bool = False,
) -> tuple[Placement, list[str]]:
    """Place (one local step: NICs, host claim, pool claim), create the root volume, define
    and start; on a failed host, undo that attempt and retry elsewhere with the host
    avoided. The placement carries the volume for the finishing step. Raises BootFailed."""
    avoid: list[UUID] = []
    attempts: list[str] = []
    kind = "deploy-failed"
    for n in range(1, max_hosts + 1):
        steps.enter("plan and claim", f"attempt {n} of {max_hosts}")
        try:
            placed = await ops.local(
                VM_PLACE,
                PlanInput(**ops.ref.model_dump(), avoid=avoid, prefer_host_id=prefer_host),
            )
        except FailureError as err:
            attempts.append(f"planning: {failure_reason(err)}")
            if not avoid:  # else the failed hosts' reason is the operation's, not capacity
                kind = error_type(err)
            break
        placement, pool = placed.placement, placed.pool
        host = placement.host_name
        if pool is None:  # the step released the host claim already
            attempts.append(f"{host}: {placed.pool_error}")
            kind = "insufficient-capacity"
            avoid.append(placement.host_id)
            continue
        try:
            steps.enter("prepare root volume", f"for {host}")
            info = await _create_volume(ops, ctx, pool, as_is=root_as_is and ctx.root_ready)
            nics = placed.nics
            if any(n.managed for n in nics) and ops.plugs_ports:
                steps.enter("define and start", f"plugging NICs on {host}")
                nics = await ops.plug_nics(placement.host_id, nics)
            steps.enter("define and start", host)
            console = await _define_and_start(ops, ctx, host, info.path, nics)
            ready = placement.model_copy(
                update={"console": console, "volume_id": pool.volume_id, "volume_path": info.path}
            )
            return ready, attempts
        except FailureError as err:
            kind = await _failed_attempt(ops, ctx, steps, err, host, pool, attempts)
            avoid.append(placement.host_id)
    raise BootFailed(attempts, kind)


async def _create_volume(
    ops: VmOps, ctx: VmContext, pool: PoolPlacement, *, as_is: bool = False
) -> VolumeInfo:
    """The root volume, on the claimed pool's queue, from the template (``as_is``: the
    file it has, read back)."""
    spec = VolumeSpec(
        name=pool.volume_name, size_bytes=pool.size_bytes, template_path=ctx.template_path
    )
    if as_is:
        spec = spec.model_copy(update={"template_path": None})
    elif ctx.template_stored and ctx.template_id is not None:
        # A template kept by the template service: a thin clone of its copy on the pool,
        # made there once for every deploy (a root disk never reads secondary storage).
        op = ops.ref.operation_id or workflow.uuid4()
        name = await ensure_cached(ctx.template_id, pool.pool_id, pool.pool_name, op)
        spec = spec.model_copy(update={"template_path": None, "template_name": name})
    return await ops.on_pool(CREATE_VOLUME, pool.pool_name, spec)


async def _define_and_start(
    ops: VmOps, ctx: VmContext, host: str, path: str, nics: list[NicInfo]
) -> ConsoleInfo | None:
    """Define and start in one host step: one round trip less on every boot."""
    return await ops.on_host(
        DEFINE_AND_START_VM, host, vm_spec(ctx, path, nics), timeout=timedelta(seconds=300)
    )


async def _failed_attempt(
    ops: VmOps,
    ctx: VmContext,
    steps: Steps,
    err: FailureError,
    host: str,
    pool: PoolPlacement | None,
    attempts: list[str],
) -> str:
    """Record why an attempt on ``host`` failed and undo it; its error type. A cancellation
    is raised again: the operation ends, and no other host is tried."""
    attempts.append(f"{host}: {failure_reason(err)}")
    kind = error_type(err) if error_type(err) != "activity-failed" else "deploy-failed"
    steps.enter("plan and claim", f"undoing attempt on {host}")
    await _undo_attempt(ops, ctx, host, pool, attempts)
    if cancelled(err):  # the operation was cancelled: the host did nothing wrong
        raise err
    return kind


async def _undo_attempt(
    ops: VmOps, ctx: VmContext, host: str, pool: PoolPlacement | None, attempts: list[str]
) -> None:
    """Compensation of one boot attempt: its domain, its volume, its claims."""
    note = await ops.best_effort_undefine(host, ctx.hypervisor_name)
    if note:
        attempts.append(note)
    attempts.extend(await ops.unplug_nics(ctx))
    # A root volume that had a file before this boot (a start) is the VM's disk, not
    # this attempt's: it stays, with its claim.
    if pool is not None and not ctx.root_ready:
        note = await ops.best_effort_delete_volume(pool.pool_name, pool.volume_name)
        if note:
            attempts.append(note)
        await ops.local(VM_RELEASE_POOL, ops.ref)
    await ops.local(VM_RELEASE_HOST, ops.ref)
