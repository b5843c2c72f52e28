"""VM sync (CloudStack's): a host's VM report reconciled with the database. The
hypervisor is the truth about power state; the database about everything else. Called
with each heartbeat (:mod:`strato.schema.fabric.agents`) and by the doctor's repairs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.states import VM_OBSERVED, VmState
from strato.schema import events
from strato.schema.compute import capacity
from strato.schema.transitions import VM, transition


def _vm_id(v: VmPowerInfo) -> UUID | None:
    try:
        return UUID(v.uuid)
    except ValueError:
        return None


async def sync_vms(
    conn: Any, host_id: UUID, host_name: str, report: list[VmPowerInfo], watermark: int | None
) -> tuple[list[str], dict[str, str]]:
    """Reconcile one host's VM report with the database, in one transaction.

    ``watermark`` is a number the database issued before the report was taken
    (:func:`strato.schema.compute.vms.watermark`); None (an agent's first report) corrects
    nothing. Corrects the power state of VMs that no operation holds and whose row did not
    change after the watermark (so a report older than an operation's result cannot undo
    it, whatever the agent's clock says):
    a VM recorded Running whose domain is off or gone becomes Stopped (its capacity is
    released); a VM recorded Stopped whose domain runs here becomes Running on this host
    (its capacity claimed). Returns the corrected VM names and the unknown domains (name
    -> why). Each correction writes a ``strato.vm.drift`` event.
    """
    seen = {vid: v for v in report if v.managed and (vid := _vm_id(v)) is not None}
    corrected: list[str] = []
    rows = await conn.fetch(
        """SELECT * FROM vms WHERE host_id = $1 OR id = ANY($2::uuid[])
           ORDER BY id FOR UPDATE""",
        host_id,
        list(seen),
    )
    by_id = {r["id"]: r for r in rows}
    settled: set[UUID] = set()  # rows whose domain here is accounted for
    for row in rows:
        vid, state = row["id"], VmState(row["state"])
        if (
            watermark is None
            or row["current_operation_id"] is not None
            or row["change_seq"] > watermark
        ):
            settled.add(vid)  # an operation owns it, or it may have changed after the report
            continue
        power = seen[vid].power if vid in seen else PowerState.MISSING
        here = row["host_id"] == host_id
        if here:
            settled.add(vid)
        if here and state == VmState.RUNNING and power in (PowerState.STOPPED, PowerState.MISSING):
            await capacity.release_host(conn, vid)
            await correct(conn, row, VmState.STOPPED, power, host_name, host_id=None)
            corrected.append(row["name"])
        elif (
            state == VmState.STOPPED
            and power == PowerState.RUNNING
            and (here or row["host_id"] is None)
        ):
            ask = await capacity.placement_ask(conn, vid)
            await capacity.force_claim(conn, vid, host_id, ask["cpu"], ask["memory_mb"])
            await correct(conn, row, VmState.RUNNING, power, host_name, host_id=host_id)
            corrected.append(row["name"])
            settled.add(vid)
    unknown: dict[str, str] = {}
    for v in report:
        vid = _vm_id(v)
        row = by_id.get(vid) if vid is not None else None
        if not v.managed:
            unknown[v.name] = "a domain without Strato metadata"
        elif row is None:
            unknown[v.name] = "no VM in the database has this domain's uuid"
        elif row["id"] in settled:
            continue
        elif row["state"] in (VmState.EXPUNGED, VmState.DESTROYED, VmState.ERROR):
            unknown[v.name] = f"VM {row['name']} is {row['state']}, yet its domain is defined"
        elif v.power != PowerState.STOPPED:
            unknown[v.name] = (
                f"VM {row['name']} is recorded {row['state']} on another host, "
                f"yet its domain is {v.power} here"
            )
    return corrected, unknown


async def correct(
    conn: Any,
    row: Any,
    target: VmState,
    power: PowerState,
    host_name: str,
    *,
    host_id: UUID | None,
) -> None:
    await transition(
        conn,
        VM,
        row["id"],
        target,
        machine=VM_OBSERVED,
        event="strato.vm.drift",
        locked=row,
        columns={
            "host_id": host_id,
            "last_host_id": host_id if host_id is not None else row["last_host_id"],
            "console": row["console"] if target == VmState.RUNNING else None,
        },
        payload={
            "host": host_name,
            "recorded": row["state"],
            "observed": str(power),
            "corrected_to": str(target),
            "detail": (
                f"the hypervisor on {host_name} reports the domain {power} "
                f"while the database had the VM {row['state']}"
            ),
        },
    )


async def report_unknown(
    conn: Any,
    host_id: UUID,
    host_name: str,
    unknown: dict[str, str],
    already: set[str],
    report_id: str,
) -> None:
    """One ``strato.host.unknown_vm`` event per unknown domain, the first time it is seen.

    ``report_id`` names the heartbeat: a retry of the same heartbeat (its first attempt
    committed, the result was lost) finds its own events and writes none again.
    """
    fresh = sorted(n for n in unknown if n not in already)
    if not fresh:
        return
    written = {
        r["domain"]
        for r in await conn.fetch(
            """SELECT payload->>'domain' AS domain FROM events
               WHERE type = 'strato.host.unknown_vm' AND resource_id = $1
                 AND payload->>'report' = $2""",
            host_id,
            report_id,
        )
    }
    for name in fresh:
        if name in written:
            continue
        await events.append(
            conn,
            "strato.host.unknown_vm",
            "host",
            host_id,
            payload={
                "host": host_name,
                "domain": name,
                "reason": unknown[name],
                "report": report_id,
            },
        )
