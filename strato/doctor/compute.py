"""The compute checks: stuck VMs, host claims and counters, and VMs against their hosts'
hypervisors. What counts as a discrepancy and what fixes it is decided here; the SQL is
in :mod:`strato.schema.compute.audit`."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from strato.doctor.findings import Checks, DriverRepairs, Finding, Undefine
from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric.payloads import HostVm
from strato.domain.states import TRANSITIONAL_VM, VmState
from strato.schema.compute import audit, vm_snapshots


def _vm(r: Any, id_key: str = "id") -> str:
    return f"vm {r['name']} ({r[id_key]})"


async def stuck_vms(c: Checks, orphan_locks: dict[UUID, str]) -> None:
    """Transitional states without an operation, and locks held by ended operations."""
    for r in await c.read(audit.stuck_vms, TRANSITIONAL_VM, list(orphan_locks)):
        op = r["current_operation_id"]
        if op is None:
            detail = f"VM is {r['state']} but no operation is working on it"
        else:
            detail = f"VM's lock is held by operation {op}, which {orphan_locks[op]}"
        to_error = r["state"] in TRANSITIONAL_VM
        fix = "release the lock" if op is not None else ""
        if to_error:
            fix = (fix + " and " if fix else "") + f"move it from {r['state']} to Error"
        await c.found(
            "stuck-vm",
            "vm",
            r["id"],
            _vm(r),
            detail,
            fix,
            partial(
                audit.unstick,
                vm_id=r["id"],
                state=r["state"],
                op=op,
                error=f"{detail} (moved to Error by strato doctor)",
                to_error=to_error,
            ),
        )


async def stuck_vm_snapshots(c: Checks, orphan_locks: dict[UUID, str]) -> None:
    """VM snapshots left Creating, Reverting or Expunging by an operation that ended."""
    for r in await c.read(vm_snapshots.stuck, list(orphan_locks)):
        op = r["current_operation_id"]
        why = orphan_locks.get(op) if op is not None else None
        detail = (
            f"VM snapshot is {r['state']} but its operation {op} {why}"
            if why
            else f"VM snapshot is {r['state']} but no operation holds its VM {r['vm_name']}"
        )
        target = "Ready" if r["state"] == "Reverting" else "Error (it can then be deleted)"
        await c.found(
            "stuck-vm-snapshot",
            "vm_snapshot",
            r["id"],
            f"VM snapshot {r['name']} of VM {r['vm_name']} ({r['id']})",
            detail,
            f"move it from {r['state']} to {target}",
            partial(
                vm_snapshots.unstick,
                vm_snapshot_id=r["id"],
                state=r["state"],
                op=op,
                error=f"{detail} (moved by strato doctor)",
                orphan=why is not None,
            ),
        )


async def migration_claims(c: Checks) -> None:
    """Target-host claims left by a migration that ended without settling them."""
    for r in await c.read(audit.stray_migration_claims):
        await c.found(
            "stray-migration-claim",
            "vm",
            r["vm_id"],
            _vm(r, "vm_id"),
            f"migration claim of {r['cpu_mhz']} MHz / {r['memory_mb']} MiB on {r['host']} "
            f"while no operation migrates the VM ({r['state']})",
            f"release the claim on {r['host']}",
            partial(audit.release_migration_claim, vm_id=r["vm_id"]),
        )


async def host_claims(c: Checks) -> None:
    """Claims of VMs that hold no host; VMs running without a claim or with a wrong one."""
    for r in await c.read(audit.host_claims):
        where = _vm(r, "vm_id")
        holds = r["state"] in ("Running", "Stopped") and r["vm_host"] == r["host_id"]
        if not holds:
            await c.found(
                "stray-host-claim",
                "vm",
                r["vm_id"],
                where,
                f"claim of {r['cpu_mhz']} MHz / {r['memory_mb']} MiB on {r['host']} "
                f"while the VM is {r['state']}"
                + ("" if r["vm_host"] is None else " on another host"),
                f"release the claim on {r['host']}",
                partial(
                    audit.release_claim, vm_id=r["vm_id"], state=r["state"], host_id=r["host_id"]
                ),
            )
        elif (r["cpu_mhz"], r["memory_mb"]) != (r["cpu"], r["mem"]):
            await c.found(
                "claim-size",
                "vm",
                r["vm_id"],
                where,
                f"claim is {r['cpu_mhz']} MHz / {r['memory_mb']} MiB, the VM has "
                f"{r['cpu']} MHz / {r['mem']} MiB",
                "set the claim to the VM's size",
                partial(audit.resize_claim, vm_id=r["vm_id"], cpu=r["cpu"], mem=r["mem"]),
            )
    for r in await c.read(audit.running_without_claim):
        if r["host_id"] is None:
            detail, fix = "VM is Running on no host", "move it from Running to Error"
            apply = partial(
                audit.unstick,
                vm_id=r["id"],
                state="Running",
                op=None,
                error=f"{detail} (moved to Error by strato doctor)",
                to_error=True,
            )
        else:
            detail = f"VM is Running on {r['host']} without a capacity claim"
            fix = f"claim {r['cpu']} MHz / {r['mem']} MiB on {r['host']}"
            apply = partial(
                audit.force_claim, vm_id=r["id"], host_id=r["host_id"], cpu=r["cpu"], mem=r["mem"]
            )
        await c.found("missing-host-claim", "vm", r["id"], _vm(r), detail, fix, apply)


async def host_counters(c: Checks) -> None:
    for r in await c.read(audit.host_counters):
        await c.found(
            "host-capacity",
            "host",
            r["id"],
            f"host {r['name']}",
            f"used counters say {r['cpu_used_mhz']} MHz / {r['memory_used_mb']} MiB, "
            f"its {r['n']} claim(s) sum to {r['cpu']} MHz / {r['mem']} MiB",
            "set the counters to the sum of the claims",
            partial(audit.recount_host, host_id=r["id"]),
        )


async def hosts_report(
    c: Checks, reports: dict[str, list[VmPowerInfo]], watermark: int, repairs: DriverRepairs
) -> None:
    """Each host's hypervisor against the VMs the database places there. ``watermark`` was
    issued by the database before the reports were asked for: a VM row changed after it
    may be newer than its host's report and is left alone."""
    for host_name in sorted(reports):
        await _host_report(c, host_name, reports[host_name], watermark, repairs)


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


async def _host_report(
    c: Checks,
    host_name: str,
    report: list[VmPowerInfo],
    watermark: int,
    repairs: DriverRepairs,
) -> None:
    seen = {v.uuid: v for v in report if v.managed}
    host_id, rows = await c.read(audit.vms_of_host, host_name, list(seen))
    by_id = {str(r["id"]): r for r in rows}

    def at_rest(r: Any) -> bool:
        return bool(r["current_operation_id"] is None and r["change_seq"] < watermark)

    def observed(vm_id: UUID, target: VmState, power: PowerState, on: UUID | None) -> Any:
        return partial(
            audit.observed,
            vm_id=vm_id,
            target=target,
            power=power,
            host_name=host_name,
            host_id=on,
            watermark=watermark,
        )

    for r in rows:
        if not (at_rest(r) and r["state"] == "Running" and r["host_id"] == host_id):
            continue
        dom = seen.get(str(r["id"]))
        power = dom.power if dom is not None else PowerState.MISSING
        if power in (PowerState.STOPPED, PowerState.MISSING):
            await c.found(
                "vm-not-running",
                "vm",
                r["id"],
                _vm(r),
                f"VM is Running on {host_name}, whose hypervisor reports it {power}",
                "record it Stopped and release its capacity",
                observed(r["id"], VmState.STOPPED, power, None),
            )
    for dom in report:
        if not dom.managed:
            c.notes.append(f"{host_name}: domain {dom.name} is not Strato's (left alone)")
            continue
        row = by_id.get(dom.uuid)
        where = f"domain {dom.name} on {host_name}"
        if row is not None and not at_rest(row):
            continue
        if row is not None and row["state"] == "Running" and row["host_id"] == host_id:
            continue
        if (
            row is not None
            and row["state"] == "Stopped"
            and dom.power == PowerState.RUNNING
            and row["host_id"] in (None, host_id)
        ):
            await c.found(
                "vm-running-unrecorded",
                "vm",
                row["id"],
                where,
                f"VM {row['name']} is Stopped, yet its domain runs on {host_name}",
                f"record it Running on {host_name} and claim its capacity",
                observed(row["id"], VmState.RUNNING, dom.power, host_id),
            )
            continue
        why = (
            "no VM has this domain's uuid"
            if row is None
            else f"VM {row['name']} is {row['state']}"
            + ("" if row["host_id"] in (None, host_id) else " on another host")
        )
        finding = Finding(
            "orphan-domain",
            where,
            f"domain is {dom.power} but {why}",
            f"undefine {dom.name} on {host_name}",
        )
        c.findings.append(finding)
        repairs.undefine.append(
            Undefine(
                finding,
                HostVm(host=host_name, name=dom.name),
                vm_id=_uuid(dom.uuid),
                change_seq=None if row is None else row["change_seq"],
            )
        )
