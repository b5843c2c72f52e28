"""One doctor run: the database checks of every subsystem, in the order their fixes
build on each other, then the database against what the agents' drivers hold."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from strato.doctor import compute, network, storage
from strato.doctor.findings import Checks, DriverRepairs, Finding
from strato.domain.fabric import flows
from strato.domain.fabric.payloads import InventoryInput, InventoryResult
from strato.domain.ids import workflow_id
from strato.domain.network import flows as net_flows
from strato.domain.network.payloads import NetworkOpInput, NetworkResult
from strato.domain.storage.payloads import StoreKey
from strato.schema.compute import audit as compute_audit
from strato.schema.compute import vms as compute_vms
from strato.schema.db import Database
from strato.schema.fabric import audit as fabric_audit
from strato.schema.network import audit as network_audit
from strato.schema.storage import audit as storage_audit
from strato.schema.storage import templates as storage_templates


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hosts_compared: int = 0
    pools_compared: int = 0
    repair: bool = False

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "repair": self.repair,
            "findings": [f.as_dict() for f in self.findings],
            "notes": self.notes,
            "hosts_compared": self.hosts_compared,
            "pools_compared": self.pools_compared,
        }


async def _orphan_locks(db: Database, client: Client, locked: Any, kind: str) -> dict[UUID, str]:
    """Locks held by operations whose workflow is not running (ended, or never existed).
    An operation not started yet is the starter sweep's business, not an orphan.
    ``locked`` reads (resource id, op, workflow_id, run_id) rows; a lock with no operation
    row is the delayed expunge's (``<kind>-expunge:<id>``)."""
    async with db.conn() as conn:
        rows = await locked(conn)
    suspects: dict[UUID, tuple[UUID, str]] = {}
    for r in rows:
        if r["workflow_id"] is not None and r["run_id"] is None:
            continue
        wf = r["workflow_id"] or workflow_id(kind, "expunge", r["id"])
        handle = client.get_workflow_handle(wf, run_id=r["run_id"])
        try:
            desc = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            suspects[r["op"]] = (r["id"], f"has no workflow {wf} in Temporal")
            continue
        if desc.status != WorkflowExecutionStatus.RUNNING:
            status = desc.status.name.lower() if desc.status is not None else "unknown"
            suspects[r["op"]] = (r["id"], f"ended ({status}) without releasing it")
    if not suspects:
        return {}
    # Keep only locks still held by the same operation: one that finished meanwhile
    # released its lock in its last step.
    async with db.conn() as conn:
        still = {(r["id"], r["op"]) for r in await locked(conn)}
    return {op: why for op, (rid, why) in suspects.items() if (rid, op) in still}


async def examine(
    db: Database,
    client: Client | None,
    *,
    queue: str,
    repair: bool = False,
    reach_s: float = 10.0,
    cache_idle_s: float = 3600.0,
    templates_queue: str | None = None,
) -> Report:
    """Run every check; with ``repair`` apply every fix. ``client`` None: database only."""
    c = Checks(db, repair=repair)
    report = Report(repair=repair)
    orphan_locks: dict[UUID, str] = {}
    orphan_volume_locks: dict[UUID, str] = {}
    if client is not None:
        orphan_locks = await _orphan_locks(db, client, compute_audit.locked_vms, "vm")
        orphan_volume_locks = await _orphan_locks(
            db, client, storage_audit.locked_volumes, "volume"
        )
    else:
        c.notes.append("Temporal not asked: operation locks and drivers not compared")
    await compute.stuck_vms(c, orphan_locks)
    await compute.stuck_vm_snapshots(c, orphan_locks)
    await compute.host_claims(c)
    await compute.migration_claims(c)
    await compute.host_counters(c)
    await storage.volumes(c, orphan_volume_locks)
    await storage.pool_claims(c)
    await storage.pool_counters(c)
    # Twice the cache's idle time: the sweep runs every few seconds, so a copy unused for
    # that long means its garbage collection is not running.
    await storage.unused_template_copies(c, 2 * cache_idle_s + 600)
    await network.addresses(c)
    if client is not None:
        await _compare_drivers(db, client, c, queue=queue, reach_s=reach_s, report=report)
        if templates_queue is not None:
            await _compare_stores(
                db, client, c, queue=queue, templates=templates_queue, reach_s=reach_s
            )
        else:
            c.notes.append("image stores not compared (no template service queue given)")
    report.findings = c.findings
    report.notes = c.notes
    return report


async def _inventory(client: Client, queue: str, inp: InventoryInput) -> InventoryResult:
    result: InventoryResult = await client.execute_workflow(
        flows.INVENTORY.name,
        inp,
        id=f"doctor-inventory-{uuid.uuid4()}",
        task_queue=queue,
        result_type=InventoryResult,
        execution_timeout=timedelta(seconds=inp.reach_s * 4 + 120),
    )
    return result


async def _compare_drivers(
    db: Database, client: Client, c: Checks, *, queue: str, reach_s: float, report: Report
) -> None:
    async with db.conn() as conn:
        hosts, pools, notes = await fabric_audit.reachable(conn)
        taken_at = await fabric_audit.now(conn)
        watermark = await compute_vms.watermark(conn)
    c.notes.extend(notes)
    async with db.conn() as conn:
        expected = await network_audit.network_devices(conn, set(hosts))
    ask = InventoryInput(
        hosts=hosts, pools=pools, networks=network.probes(expected), reach_s=reach_s
    )
    inv = await _inventory(client, queue, ask)
    host_reports = {h.host: h.vms for h in inv.hosts if h.vms is not None}
    pool_reports = {p.pool: p.volumes for p in inv.pools if p.volumes is not None}
    c.notes += [f"host {h.host} did not answer: {h.error}" for h in inv.hosts if h.vms is None]
    c.notes += [f"pool {p.pool} did not answer: {p.error}" for p in inv.pools if p.volumes is None]
    report.hosts_compared, report.pools_compared = len(host_reports), len(pool_reports)
    repairs = DriverRepairs()
    await compute.hosts_report(c, host_reports, watermark, repairs)
    await storage.pools_report(c, pool_reports, taken_at, repairs)
    drifted = await network.devices(c, expected, inv.networks)
    if c.repair and drifted:
        await _restart_networks(client, c, drifted, queue=queue)
    if c.repair and (repairs.undefine or repairs.delete):
        await _repair_drivers(db, client, c, repairs, queue=queue, reach_s=reach_s, at=taken_at)


async def _restart_networks(client: Client, c: Checks, ids: list[UUID], *, queue: str) -> None:
    """Drifted networks restarted (each a RestartNetwork of the doctor's): their routers
    rebuilt, their ports plugged and pruned, from the database."""

    async def restart(network_id: UUID) -> str | None:
        try:
            await client.execute_workflow(
                net_flows.RESTART_NETWORK.name,
                NetworkOpInput(network_id=network_id, mode="restart"),
                id=workflow_id("network", "restart", network_id, uuid.uuid4()),
                task_queue=queue,
                result_type=NetworkResult,
                execution_timeout=timedelta(minutes=10),
            )
            return None
        except WorkflowFailureError as err:
            return f"network {network_id} could not be restarted: {err.cause or err}"

    notes = await asyncio.gather(*(restart(n) for n in ids))
    c.notes += [n for n in notes if n]
    c.notes += [f"network {n} restarted" for n, note in zip(ids, notes, strict=True) if not note]


async def _compare_stores(
    db: Database, client: Client, c: Checks, *, queue: str, templates: str, reach_s: float
) -> None:
    """The image stores' listings (asked of the template service) against the records;
    with ``repair``, images nothing records are deleted (re-checked first)."""
    async with db.conn() as conn:
        refs = [storage_templates.store_ref(r) for r in await storage_audit.image_stores(conn)]
        taken_at = await fabric_audit.now(conn)
    if not refs:
        return
    ask = InventoryInput(stores=refs, templates_queue=templates, reach_s=reach_s)
    inv = await _inventory(client, queue, ask)
    by_name = {r.name: r for r in refs}
    listed = {
        by_name[s.store].store_id: (by_name[s.store], s.images)
        for s in inv.stores
        if s.images is not None
    }
    c.notes += [
        f"image store {s.store} did not answer: {s.error}" for s in inv.stores if s.images is None
    ]
    drops: list[tuple[Finding, StoreKey]] = []
    await storage.stores_report(c, listed, taken_at, drops)
    if not (c.repair and drops):
        return
    async with db.tx() as conn:
        still = [
            (f, k)
            for f, k in drops
            if await storage_audit.image_still_orphan(conn, k.store.store_id, k.key)
        ]
        if not still:
            return
        done = await _inventory(
            client,
            queue,
            InventoryInput(
                drop_images=[k for _, k in still], templates_queue=templates, reach_s=reach_s
            ),
        )
        c.notes += sorted(done.failed_repairs)
        for fix, _ in still:
            if any(note.startswith(f"could not {fix.fix}:") for note in done.failed_repairs):
                continue
            fix.repaired = True
            await fabric_audit.record_repair(
                conn,
                check=fix.check,
                resource_type="image_store",
                resource_id=None,
                detail=fix.detail,
                fix=fix.fix,
            )


async def _repair_drivers(
    db: Database,
    client: Client,
    c: Checks,
    repairs: DriverRepairs,
    *,
    queue: str,
    reach_s: float,
    at: datetime,
) -> None:
    """Undefine the orphan domains and delete the orphan volumes whose evidence still holds.

    In one transaction: each fix's evidence is re-read under a lock (the VM row a domain's
    uuid names, the pool's row for a volume), fixes whose evidence changed since the
    listing are skipped with a note (a VM started or created meanwhile is not touched),
    and the locks are held while the agents act, so no operation can take those VMs or
    place volumes on those pools until the fixes are done and recorded."""
    async with db.tx() as conn:
        undefine, delete = [], []
        for u in repairs.undefine:
            if await compute_audit.domain_still_orphan(conn, u.vm_id, u.change_seq):
                undefine.append(u)
            else:
                c.notes.append(f"not done: {u.finding.fix} (its VM changed since the listing)")
        for d in repairs.delete:
            if await storage_audit.volume_still_orphan(conn, d.target.pool, d.target.name, at):
                delete.append(d)
            else:
                c.notes.append(f"not done: {d.finding.fix} (a volume record changed since)")
        if not (undefine or delete):
            return
        done = await _inventory(
            client,
            queue,
            InventoryInput(
                undefine=[u.target for u in undefine],
                delete=[d.target for d in delete],
                reach_s=reach_s,
            ),
        )
        failed = set(done.failed_repairs)
        c.notes += sorted(failed)
        for fix, resource_type in [(u.finding, "host") for u in undefine] + [
            (d.finding, "storage_pool") for d in delete
        ]:
            if any(note.startswith(f"could not {fix.fix}:") for note in failed):
                continue
            fix.repaired = True
            await fabric_audit.record_repair(
                conn,
                check=fix.check,
                resource_type=resource_type,
                resource_id=None,
                detail=fix.detail,
                fix=fix.fix,
            )
