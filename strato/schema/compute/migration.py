"""A migration's capacity and its end, each in one transaction (see
:mod:`strato.domain.compute.migration`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from strato.domain.compute.migration import MigrationClaimInput, MigrationDoneInput, MigrationPlan
from strato.domain.compute.payloads import VmFinishInput
from strato.domain.compute.placement import PlanRequest, exclusion, soft_penalty
from strato.domain.errors import Conflict, IllegalTransition, InsufficientCapacity, InvalidInput
from strato.schema import events
from strato.schema.compute import capacity, vms


async def claim(conn: Any, inp: MigrationClaimInput) -> MigrationPlan:
    """Capacity on the target (the one named, or the first of the VM's cluster with
    room), claimed beside the source's. Idempotent: a retry finds its claim."""
    vm = await conn.fetchrow(
        """SELECT v.*, h.name AS host_name, h.cluster_id, h.capabilities AS host_caps
           FROM vms v JOIN hosts h ON h.id = v.host_id WHERE v.id = $1 FOR UPDATE OF v""",
        inp.vm_id,
    )
    if vm is None or vm["current_operation_id"] != inp.operation_id:
        raise IllegalTransition(f"VM {inp.vm_id} is not being migrated by this operation")
    ask = await capacity.placement_ask(conn, inp.vm_id)
    held = await conn.fetchrow("SELECT host_id FROM migration_claims WHERE vm_id = $1", inp.vm_id)
    if held is not None:
        return await _plan(conn, vm, held["host_id"], inp.live)
    # The planners' hard rules hold for a migration's target too: host tags, strict
    # affinity and anti-affinity (the VM's own claim does not count against it).
    req = PlanRequest(
        cpu_mhz=ask["cpu"],
        memory_mb=ask["memory_mb"],
        host_tags=list(ask["host_tags"] or []),
        affinity=await capacity.affinity_rules(conn, inp.vm_id),
    )
    # A move within its cluster does not change what the cluster has allocated: neither
    # its disable thresholds nor a disabled zone, pod or cluster (each stops new VMs
    # only) holds the VM where it is (a host's maintenance moves VMs there too).
    hosts = [
        dataclasses.replace(h, cluster_full="")
        for h in await capacity.candidates(conn, vm["zone_id"], new_vms=False)
        if h.cluster_id == vm["cluster_id"] and h.id != vm["host_id"]
    ]
    if inp.host_id is not None:
        if inp.host_id == vm["host_id"]:
            raise InvalidInput(f"VM {vm['name']} runs on that host already", field="host_id")
        target = await conn.fetchrow(
            "SELECT cluster_id, name FROM hosts WHERE id = $1", inp.host_id
        )
        if target is None:
            raise InvalidInput(f"host_id: host {inp.host_id} does not exist", field="host_id")
        if target["cluster_id"] != vm["cluster_id"]:
            raise InvalidInput(
                f"host {target['name']} is in another cluster: a VM moves within its "
                "cluster (its volumes' pools)",
                field="host_id",
            )
        named = next((h for h in hosts if h.id == inp.host_id), None)
        why = (
            exclusion(req.model_copy(update={"cpu_mhz": 0, "memory_mb": 0}), named)
            if named
            else None
        )
        if why:  # room is checked by the claim below; the other rules here
            raise Conflict(
                f"host {target['name']} cannot take VM {vm['name']}: hosts that {why} are excluded"
            )
        order = [inp.host_id]
    else:
        fit = [h for h in hosts if exclusion(req, h) is None]
        fit.sort(key=lambda h: (soft_penalty(req, h), -h.memory_free_mb, h.name))
        order = [h.id for h in fit]
    for host_id in order:
        if not await capacity.take_room(conn, host_id, ask["cpu"], ask["memory_mb"]):
            continue
        await conn.execute(
            """INSERT INTO migration_claims (vm_id, host_id, cpu_mhz, memory_mb)
               VALUES ($1, $2, $3, $4)""",
            inp.vm_id,
            host_id,
            ask["cpu"],
            ask["memory_mb"],
        )
        return await _plan(conn, vm, host_id, inp.live)
    where = "that host" if inp.host_id else "any other Up and Enabled host of its cluster"
    raise InsufficientCapacity(
        f"VM {vm['name']} ({ask['cpu']} MHz, {ask['memory_mb']} MiB) does not fit on {where}"
    )


async def _plan(conn: Any, vm: Any, target_id: Any, live: bool | None) -> MigrationPlan:
    target = await conn.fetchrow(
        "SELECT name, url, capabilities FROM hosts WHERE id = $1", target_id
    )
    both = bool(vm["host_caps"].get("migration")) and bool(target["capabilities"].get("migration"))
    if live and not both:
        raise Conflict(
            f"live migration needs both hosts' hypervisors to migrate ({vm['host_name']}: "
            f"{bool(vm['host_caps'].get('migration'))}, {target['name']}: "
            f"{bool(target['capabilities'].get('migration'))}); ask for a cold one"
        )
    return MigrationPlan(
        source_host_id=vm["host_id"],
        source_host_name=vm["host_name"],
        target_host_id=target_id,
        target_host_name=target["name"],
        target_url=target["url"] or "",
        live=both and live is not False,
    )


async def done(conn: Any, inp: MigrationDoneInput) -> None:
    """The end: moved, the source's claim released and the target's made the VM's
    (Running there); not moved, the target's released and the VM Running on its source
    (or Stopped, if it could not be started back there). Idempotent."""
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", inp.vm_id)
    if row is None or row["current_operation_id"] != inp.operation_id:
        return
    held = await conn.fetchrow(
        "DELETE FROM migration_claims WHERE vm_id = $1 RETURNING host_id, cpu_mhz, memory_mb",
        inp.vm_id,
    )
    plan = inp.plan
    if inp.moved:
        await capacity.release_host(conn, inp.vm_id)
        if held is not None:  # the target's counters hold it already
            await conn.execute(
                """INSERT INTO host_claims (vm_id, host_id, cpu_mhz, memory_mb)
                   VALUES ($1, $2, $3, $4)""",
                inp.vm_id,
                held["host_id"],
                held["cpu_mhz"],
                held["memory_mb"],
            )
        finish = VmFinishInput(
            **inp.ref_fields(), target="Running", host_id=plan.target_host_id, console=inp.console
        )
    else:
        if held is not None:
            await conn.execute(
                """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz - $2,
                                    memory_used_mb = memory_used_mb - $3 WHERE id = $1""",
                held["host_id"],
                held["cpu_mhz"],
                held["memory_mb"],
            )
        if inp.stopped:
            await capacity.release_host(conn, inp.vm_id)
        finish = VmFinishInput(
            **inp.ref_fields(),
            target="Stopped" if inp.stopped else "Running",
            clear_host=inp.stopped,
            console=inp.console,
            error=inp.error,
            error_type="migration-failed",
        )
    await vms.finish(conn, finish)
    if inp.moved:
        await events.append(
            conn,
            "strato.vm.migrated",
            "vm",
            inp.vm_id,
            operation_id=inp.operation_id,
            payload={
                "source": plan.source_host_name,
                "target": plan.target_host_name,
                "live": plan.live,
            },
        )
