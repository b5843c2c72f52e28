"""VM rows: the per-VM operation lock and guarded lifecycle transitions.

One mutating operation per VM: the API takes the lock (``acquire``) in the transaction
that records the operation; the workflow's last step (``finish``) releases it in the same
transaction as the final state, so the lock and the state never disagree.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any
from uuid import UUID

from strato.domain.compute.models import AffinityGroup, Vm
from strato.domain.compute.payloads import VmContext, VmFinishInput
from strato.domain.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from strato.domain.states import VM_STATE, VmState
from strato.schema import events
from strato.schema.compute import capacity, vm_snapshots
from strato.schema.repository import TableSpec
from strato.schema.storage import volumes
from strato.schema.transitions import VM, transition

VMS = TableSpec(
    "vms",
    "vm",
    Vm,
    references={
        "zone_id": "zone",
        "service_offering_id": "service offering",
        "template_id": "template",
        "host_id": "host",
    },
    dependents={"volumes": "volumes", "nics": "NICs", "host_claims": "a capacity claim"},
    owner="owner",
)


AFFINITY_GROUPS = TableSpec(
    "affinity_groups",
    "affinity_group",
    AffinityGroup,
    state_column=None,
    dependents={"vm_affinity_groups": "VMs"},
    owner="owner",
)


def hypervisor_name(vm_id: UUID) -> str:
    """The VM's name on hypervisors: unique, stable, recognisably ours."""
    return f"strato-{vm_id}"


async def watermark(conn: Any) -> int:
    """A number the database issues now: every VM row changed before this call carries a
    smaller ``change_seq``, every row changed after it a larger one (migration 0006). A
    report taken after this call may correct only rows at or below it."""
    value: int = await conn.fetchval("SELECT nextval('vm_change_seq')")
    return value


async def _locked(conn: Any, vm_id: UUID) -> Any:
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None:
        raise NotFound(f"VM {vm_id} does not exist", id=str(vm_id))
    return row


def _busy(row: Any) -> Conflict:
    return Conflict(
        f"VM {row['id']} is busy: operation {row['current_operation_id']} "
        f"({row['current_operation_kind']}) is running; wait for it to finish",
        operation_id=str(row["current_operation_id"]),
    )


async def acquire(
    conn: Any, vm_id: UUID, operation_id: UUID, kind: str, allowed: frozenset[VmState]
) -> Vm:
    """Take the VM's operation lock for ``operation_id`` if its state allows ``kind``."""
    row = await _locked(conn, vm_id)
    if row["current_operation_id"] not in (None, operation_id):
        raise _busy(row)
    state = VmState(row["state"])
    if state not in allowed:
        raise IllegalTransition(
            f"cannot {kind} VM {vm_id} while it is {state} "
            f"(allowed from: {', '.join(sorted(allowed))})",
            current=str(state),
        )
    await vm_snapshots.refuse_if_any(conn, vm_id, row["name"], kind)
    row = await conn.fetchrow(
        """UPDATE vms SET current_operation_id = $2, current_operation_kind = $3
           WHERE id = $1 RETURNING *""",
        vm_id,
        operation_id,
        kind,
    )
    return VMS.to_model(row)


async def _set_state(
    conn: Any, row: Any, target: VmState, operation_id: UUID | None, **columns: Any
) -> Any:
    moved = await transition(
        conn,
        VM,
        row["id"],
        target,
        operation_id=operation_id,
        reason=columns.get("last_error"),
        columns=columns,
        locked=row,
    )
    return moved.row


async def begin(
    conn: Any,
    vm_id: UUID,
    operation_id: UUID | None,
    target: VmState | None,
    only_from: Collection[str] = (),
) -> bool:
    """First step of a workflow: check it holds the lock, move to its transitional state
    (``None``: stay in the current one; with ``only_from``, move only from those states).
    Idempotent. False when this very operation
    already finished (its first step runs again after a lost workflow task)."""
    row = await _locked(conn, vm_id)
    if row["current_operation_id"] != operation_id:
        if _finished_by(row, operation_id):
            return False
        raise _busy(row)
    if target is not None and (not only_from or row["state"] in only_from):
        await _set_state(conn, row, target, operation_id)
    return True


def _finished_by(row: Any, operation_id: UUID | None) -> bool:
    """Whether ``operation_id`` is the operation that last finished on this VM."""
    return bool(
        operation_id is not None
        and row["current_operation_id"] is None
        and row["last_operation_id"] == operation_id
    )


async def begin_expunge(conn: Any, vm_id: UUID, operation_id: UUID) -> bool | None:
    """Take the lock and enter Expunging if the VM is still Destroyed. None when there is
    nothing to expunge (recovered, already expunged, gone) or another operation holds it;
    False when this very operation already finished it. Idempotent."""
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None:
        return None
    if row["current_operation_id"] == operation_id and row["state"] == VmState.EXPUNGING:
        return True
    if _finished_by(row, operation_id):
        return False
    if row["state"] != VmState.DESTROYED or row["current_operation_id"] not in (None, operation_id):
        return None
    row = await conn.fetchrow(
        """UPDATE vms SET current_operation_id = $2, current_operation_kind = 'expunge'
           WHERE id = $1 RETURNING *""",
        vm_id,
        operation_id,
    )
    await _set_state(conn, row, VmState.EXPUNGING, operation_id)
    return True


async def finish(conn: Any, inp: VmFinishInput) -> Vm:
    """Last step: final state, host bookkeeping, lock released; one transaction.

    Idempotent: a retry after commit finds the lock already released and the state set.
    """
    row = await _locked(conn, inp.vm_id)
    target = VmState(inp.target)
    if row["current_operation_id"] is None and row["state"] == target:
        return VMS.to_model(row)
    if row["current_operation_id"] not in (None, inp.operation_id):
        raise _busy(row)
    columns: dict[str, Any] = {"last_error": inp.error, "last_error_type": inp.error_type}
    if not inp.keep_lock:
        columns |= {
            "current_operation_id": None,
            "current_operation_kind": None,
            "last_operation_id": inp.operation_id,
            **unreserved_iso(row),
        }
    if inp.host_id is not None:
        columns["host_id"] = inp.host_id
        columns["last_host_id"] = inp.host_id
    elif inp.clear_host:
        columns["host_id"] = None
    if inp.console is not None:
        columns["console"] = inp.console.model_dump()
    elif target != VmState.RUNNING:
        columns["console"] = None
    if inp.destroyed:
        now = await conn.fetchval("SELECT clock_timestamp()")
        columns["destroyed_at"] = now
        delay = inp.expunge_delay_s or 0.0
        columns["expunge_at"] = now + timedelta(seconds=delay)
    elif target == VmState.STOPPED:
        columns["destroyed_at"] = None
        columns["expunge_at"] = None
    new = await _set_state(conn, row, target, inp.operation_id, **columns)
    if inp.event:
        await events.append(conn, inp.event, "vm", inp.vm_id, operation_id=inp.operation_id)
    return VMS.to_model(new)


async def fail_safe(conn: Any, vm_id: UUID, operation_id: UUID, error: str, kind: str) -> bool:
    """The guard every VM workflow ends with on a failure its code did not handle.

    If ``operation_id`` still holds the VM's lock: a VM in a transitional state (one
    from which Error is legal) moves to Error, a VM at rest keeps its state; the lock is
    released and the reason recorded, with a ``strato.vm.operation_failed`` event. A VM
    left in Error and placed on no host keeps no host claim. Returns whether anything
    changed; idempotent (a retry finds the lock released and does nothing).
    """
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None or row["current_operation_id"] != operation_id:
        return False
    current = VmState(row["state"])
    target = VmState.ERROR if VM_STATE.can(current, VmState.ERROR) else current
    columns: dict[str, Any] = {
        "current_operation_id": None,
        "current_operation_kind": None,
        "last_error": error,
        "last_error_type": kind or "internal-error",
        "last_operation_id": operation_id,
        **unreserved_iso(row),
    }
    if target == VmState.ERROR:
        columns["console"] = None
        if row["host_id"] is None:
            await capacity.release_host(conn, vm_id)
    await _set_state(conn, row, target, operation_id, **columns)
    await events.append(
        conn,
        "strato.vm.operation_failed",
        "vm",
        vm_id,
        operation_id=operation_id,
        payload={"kind": kind or row["current_operation_kind"], "error": error},
    )
    return True


async def context(conn: Any, vm_id: UUID) -> VmContext:
    row = await conn.fetchrow(
        """SELECT v.*, h.name AS host_name, lh.name AS last_host_name,
                  t.url AS template_url, t.boot AS template_boot, t.stored AS template_stored,
                  vol.name AS root_volume_name, vol.size_bytes AS root_size,
                  vol.state AS root_state, p.name AS root_pool_name, p.id AS root_pool_id,
                  EXISTS (SELECT 1 FROM nics n JOIN networks net ON net.id = n.network_id
                          WHERE n.vm_id = v.id AND net.physical_network_id IS NOT NULL)
                      AS managed_nics
           FROM vms v
           JOIN templates t ON t.id = v.template_id
           LEFT JOIN hosts h ON h.id = v.host_id
           LEFT JOIN hosts lh ON lh.id = v.last_host_id
           LEFT JOIN volumes vol ON vol.id = v.root_volume_id
           LEFT JOIN storage_pools p ON p.id = vol.pool_id
           WHERE v.id = $1""",
        vm_id,
    )
    if row is None:
        raise NotFound(f"VM {vm_id} does not exist", id=str(vm_id))
    return VmContext(
        vm_id=row["id"],
        name=row["name"],
        hypervisor_name=hypervisor_name(row["id"]),
        zone_id=row["zone_id"],
        owner=row["owner"],
        state=row["state"],
        cpu_count=row["cpu_count"],
        cpu_speed_mhz=row["cpu_speed_mhz"],
        memory_mb=row["memory_mb"],
        service_offering_id=row["service_offering_id"],
        host_id=row["host_id"],
        host_name=row["host_name"],
        last_host_id=row["last_host_id"],
        last_host_name=row["last_host_name"],
        root_volume_id=row["root_volume_id"],
        root_volume_name=row["root_volume_name"],
        root_size_bytes=row["root_size"] or 0,
        root_pool_name=row["root_pool_name"],
        root_pool_id=row["root_pool_id"],
        root_ready=row["root_state"] == "Ready",
        data_disks=await volumes.data_disks(conn, vm_id),
        managed_nics=row["managed_nics"],
        template_path=None if row["template_stored"] else (row["template_url"] or None),
        template_id=row["template_id"],
        template_stored=row["template_stored"],
        boot=row["template_boot"] or {},
        iso_id=row["iso_id"],
        iso_path=row["iso_path"],
        last_error=row["last_error"],
        last_error_type=row["last_error_type"],
    )


async def set_offering(
    conn: Any, vm_id: UUID, offering_id: UUID, cpu_count: int, cpu_speed: int, memory_mb: int
) -> None:
    """Idempotent: a VM already on the offering is left alone (no second event)."""
    status = await conn.execute(
        """UPDATE vms SET service_offering_id = $2, cpu_count = $3, cpu_speed_mhz = $4,
                          memory_mb = $5, version = version + 1, updated_at = clock_timestamp()
           WHERE id = $1 AND service_offering_id IS DISTINCT FROM $2""",
        vm_id,
        offering_id,
        cpu_count,
        cpu_speed,
        memory_mb,
    )
    if status == "UPDATE 0":
        return
    await events.append(
        conn,
        "strato.vm.scaled",
        "vm",
        vm_id,
        payload={
            "service_offering_id": str(offering_id),
            "cpu_count": cpu_count,
            "memory_mb": memory_mb,
        },
    )


async def attach_root_and_groups(
    conn: Any, vm_id: UUID, root_volume_id: UUID, group_ids: list[UUID], owner: str = ""
) -> None:
    """The VM's root volume, and its affinity groups: its owner's own (another owner's
    is answered as a missing one)."""
    await conn.execute("UPDATE vms SET root_volume_id = $2 WHERE id = $1", vm_id, root_volume_id)
    for gid in dict.fromkeys(group_ids):
        found = await conn.fetchval("SELECT owner FROM affinity_groups WHERE id = $1", gid)
        if found is None or found != owner:
            raise InvalidInput(
                f"affinity_group_ids: group {gid} does not exist", field="affinity_group_ids"
            )
        await conn.execute(
            "INSERT INTO vm_affinity_groups (vm_id, group_id) VALUES ($1, $2)", vm_id, gid
        )


async def detail(conn: Any, vm_id: UUID) -> dict[str, Any]:
    """The VM with its host's name, NICs and volumes (the GET /vms/{id} shape)."""
    row = await conn.fetchrow(
        """SELECT v.*, h.name AS host_name FROM vms v LEFT JOIN hosts h ON h.id = v.host_id
           WHERE v.id = $1""",
        vm_id,
    )
    if row is None:
        raise NotFound(f"VM {vm_id} does not exist", id=str(vm_id))
    nics = await conn.fetch(
        "SELECT *, host(ip_address) AS ip FROM nics WHERE vm_id = $1 ORDER BY device_id", vm_id
    )
    vols = await conn.fetch("SELECT * FROM volumes WHERE vm_id = $1 ORDER BY created_at", vm_id)
    data = dict(row)
    data["nics"] = [{**dict(n), "ip_address": n["ip"]} for n in nics]
    data["volumes"] = [dict(v) for v in vols]
    return data


async def reserve_iso(conn: Any, vm_id: UUID, iso_id: UUID) -> None:
    """AttachIso's command: the ISO recorded on the (locked) VM with no path yet, so a
    delete of the ISO finds it in use from now on. The attach's last step sets the path
    (:func:`set_iso`); a lock released with no path drops the reservation
    (:func:`unreserved_iso`)."""
    await conn.execute(
        "UPDATE vms SET iso_id = $2, iso_path = NULL WHERE id = $1 AND iso_id IS NULL",
        vm_id,
        iso_id,
    )


def unreserved_iso(row: Any) -> dict[str, Any]:
    """The columns that drop an ISO reservation whose attach is ending without a path."""
    return {"iso_id": None} if row["iso_id"] is not None and row["iso_path"] is None else {}


async def set_iso(
    conn: Any, vm_id: UUID, iso_id: UUID | None, iso_path: str | None, op: UUID | None
) -> None:
    """The VM's ISO (None: its drive is empty), with its event. Idempotent: a VM that has
    that ISO at that path already is left alone (no second event)."""
    row = await conn.fetchrow("SELECT iso_id, iso_path FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None:
        raise NotFound(f"VM {vm_id} does not exist", id=str(vm_id))
    old, old_path = row["iso_id"], row["iso_path"]
    if old == iso_id and old_path == iso_path:
        return
    await conn.execute(
        """UPDATE vms SET iso_id = $2, iso_path = $3, version = version + 1,
                          updated_at = clock_timestamp() WHERE id = $1""",
        vm_id,
        iso_id,
        iso_path,
    )
    if iso_id is None and old_path is None:
        return  # a reservation dropped: nothing was ever in the drive
    kind = "strato.vm.iso_attached" if iso_id else "strato.vm.iso_detached"
    await events.append(
        conn, kind, "vm", vm_id, operation_id=op, payload={"iso_id": str(iso_id or old)}
    )
