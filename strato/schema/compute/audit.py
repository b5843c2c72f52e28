"""The compute subsystem's audit SQL for `strato doctor`: what it reads to find VM and host
capacity discrepancies, and the fixes, each of which locks its row, re-checks under the
lock and returns whether it acted (so a repair never undoes what an operation did)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from strato.domain.compute.specs import PowerState
from strato.domain.states import VM_REPAIR, VmState
from strato.schema.compute import capacity, vms
from strato.schema.fabric import vm_sync
from strato.schema.transitions import VM, transition

# -- reads ----------------------------------------------------------------------------


async def stuck_vms(conn: Any, transitional: Collection[str], orphan_ops: list[UUID]) -> list[Any]:
    """VMs in a transitional state with no operation, or locked by one of ``orphan_ops``."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, name, state, current_operation_id FROM vms
           WHERE (current_operation_id IS NULL AND state = ANY($1::text[]))
              OR current_operation_id = ANY($2::uuid[])
           ORDER BY created_at, id""",
        sorted(transitional),
        orphan_ops,
    )
    return rows


async def host_claims(conn: Any) -> list[Any]:
    """Every host claim of a VM at rest, with the VM's state, host and size."""
    rows: list[Any] = await conn.fetch(
        """SELECT c.vm_id, c.host_id, c.cpu_mhz, c.memory_mb, h.name AS host, v.name,
                  v.state, v.host_id AS vm_host, v.cpu_count * v.cpu_speed_mhz AS cpu,
                  v.memory_mb AS mem
           FROM host_claims c JOIN vms v ON v.id = c.vm_id JOIN hosts h ON h.id = c.host_id
           WHERE v.current_operation_id IS NULL ORDER BY v.created_at, v.id"""
    )
    return rows


async def running_without_claim(conn: Any) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT v.id, v.name, v.host_id, h.name AS host,
                  v.cpu_count * v.cpu_speed_mhz AS cpu, v.memory_mb AS mem
           FROM vms v LEFT JOIN host_claims c ON c.vm_id = v.id
           LEFT JOIN hosts h ON h.id = v.host_id
           WHERE v.current_operation_id IS NULL AND v.state = 'Running'
             AND c.vm_id IS NULL ORDER BY v.created_at, v.id"""
    )
    return rows


async def host_counters(conn: Any) -> list[Any]:
    """Hosts whose used counters differ from the sum of their claims."""
    rows: list[Any] = await conn.fetch(
        """SELECT h.id, h.name, h.cpu_used_mhz, h.memory_used_mb,
                  coalesce(s.cpu, 0) AS cpu, coalesce(s.mem, 0) AS mem, coalesce(s.n, 0) AS n
           FROM hosts h LEFT JOIN (
               SELECT host_id, sum(cpu_mhz) AS cpu, sum(memory_mb) AS mem, count(*) AS n
               FROM (SELECT host_id, cpu_mhz, memory_mb FROM host_claims
                     UNION ALL SELECT host_id, cpu_mhz, memory_mb FROM migration_claims) c
               GROUP BY host_id) s ON s.host_id = h.id
           WHERE h.cpu_used_mhz <> coalesce(s.cpu, 0)
              OR h.memory_used_mb <> coalesce(s.mem, 0)
           ORDER BY h.name"""
    )
    return rows


async def locked_vms(conn: Any) -> list[Any]:
    """VMs whose lock is held, with the operation that holds it (if it has a row)."""
    rows: list[Any] = await conn.fetch(
        """SELECT v.id, v.current_operation_id AS op, o.workflow_id, o.run_id
           FROM vms v LEFT JOIN operations o ON o.id = v.current_operation_id
           WHERE v.current_operation_id IS NOT NULL"""
    )
    return rows


async def vms_of_host(conn: Any, host_name: str, uuids: list[str]) -> tuple[UUID, list[Any]]:
    """The host's id, and the VMs placed on it or named by ``uuids`` (its report)."""
    host_id: UUID = await conn.fetchval("SELECT id FROM hosts WHERE name = $1", host_name)
    rows: list[Any] = await conn.fetch(
        """SELECT id, name, state, host_id, current_operation_id, change_seq FROM vms
           WHERE host_id = $1 OR id::text = ANY($2::text[])""",
        host_id,
        uuids,
    )
    return host_id, rows


# -- fixes ----------------------------------------------------------------------------


async def domain_still_orphan(conn: Any, vm_id: UUID | None, change_seq: int | None) -> bool:
    """Before a domain is undefined: lock the VM row its uuid names and True only if the
    evidence still holds: no row then (``change_seq`` None) and none now, or a row no
    operation holds that has not changed since it was read (the same ``change_seq``). The
    lock is held until the caller's transaction ends, past the undefine."""
    if vm_id is None:
        return True  # not a uuid: no VM can ever own it
    row = await conn.fetchrow(
        "SELECT change_seq, current_operation_id FROM vms WHERE id = $1 FOR UPDATE", vm_id
    )
    if row is None:
        return change_seq is None
    return bool(row["current_operation_id"] is None and row["change_seq"] == change_seq)


async def _lock_vm(conn: Any, vm_id: UUID) -> Any:
    """The VM's state and lock holder, its row locked until the fix commits (None: gone)."""
    return await conn.fetchrow(
        "SELECT state, current_operation_id FROM vms WHERE id = $1 FOR UPDATE", vm_id
    )


async def vm_at_rest(conn: Any, vm_id: UUID, state: str | None = None) -> bool:
    """Lock the VM; True if no operation holds it (and it is in ``state``, if given)."""
    row = await _lock_vm(conn, vm_id)
    return bool(
        row is not None
        and row["current_operation_id"] is None
        and (state is None or row["state"] == state)
    )


async def unstick(
    conn: Any, *, vm_id: UUID, state: str, op: UUID | None, error: str, to_error: bool
) -> bool:
    """Release a lock an ended operation left, and/or move a stuck VM to Error."""
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None or row["state"] != state or row["current_operation_id"] != op:
        return False
    if not to_error:
        await conn.execute(
            """UPDATE vms SET current_operation_id = NULL, current_operation_kind = NULL,
                              iso_id = CASE WHEN iso_path IS NULL THEN NULL ELSE iso_id END,
                              version = version + 1, updated_at = clock_timestamp()
               WHERE id = $1""",
            vm_id,
        )
        return True
    await capacity.release_host(conn, vm_id)
    await transition(
        conn,
        VM,
        vm_id,
        VmState.ERROR,
        expected={VmState(state)},
        machine=VM_REPAIR,
        reason=error,
        columns={
            "current_operation_id": None,
            "current_operation_kind": None,
            "host_id": None,
            "console": None,
            "last_error": error,
            **vms.unreserved_iso(row),
        },
    )
    return True


async def release_claim(conn: Any, *, vm_id: UUID, state: str, host_id: UUID) -> bool:
    if not await vm_at_rest(conn, vm_id, state):
        return False
    held = await capacity.current_claim(conn, vm_id)
    if held is None or held[0] != host_id:
        return False
    await capacity.release_host(conn, vm_id)
    return True


async def resize_claim(conn: Any, *, vm_id: UUID, cpu: int, mem: int) -> bool:
    if not await vm_at_rest(conn, vm_id, "Running"):
        return False
    row = await conn.fetchrow(
        "SELECT host_id, cpu_mhz, memory_mb FROM host_claims WHERE vm_id = $1 FOR UPDATE", vm_id
    )
    if row is None:
        return False
    await conn.execute(
        """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz + $2,
                            memory_used_mb = memory_used_mb + $3
           WHERE id = $1""",
        row["host_id"],
        cpu - row["cpu_mhz"],
        mem - row["memory_mb"],
    )
    await conn.execute(
        "UPDATE host_claims SET cpu_mhz = $2, memory_mb = $3 WHERE vm_id = $1", vm_id, cpu, mem
    )
    return True


async def force_claim(conn: Any, *, vm_id: UUID, host_id: UUID, cpu: int, mem: int) -> bool:
    if not await vm_at_rest(conn, vm_id, "Running"):
        return False
    if await capacity.current_claim(conn, vm_id) is not None:
        return False
    await capacity.force_claim(conn, vm_id, host_id, cpu, mem)
    return True


async def recount_host(conn: Any, *, host_id: UUID) -> bool:
    await conn.execute("SELECT 1 FROM hosts WHERE id = $1 FOR NO KEY UPDATE", host_id)
    status: str = await conn.execute(
        """UPDATE hosts h SET cpu_used_mhz = s.cpu, memory_used_mb = s.mem
           FROM (SELECT coalesce(sum(cpu_mhz), 0) AS cpu, coalesce(sum(memory_mb), 0) AS mem
                 FROM host_claims WHERE host_id = $1) s
           WHERE h.id = $1 AND (h.cpu_used_mhz <> s.cpu OR h.memory_used_mb <> s.mem)""",
        host_id,
    )
    return status.endswith(" 1")


async def observed(
    conn: Any,
    *,
    vm_id: UUID,
    target: VmState,
    power: PowerState,
    host_name: str,
    host_id: UUID | None,
    watermark: int,
) -> bool:
    """Record what the hypervisor reported (the same correction VM sync makes), unless an
    operation holds the VM or its row changed after ``watermark`` (the report's)."""
    row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if row is None or row["current_operation_id"] is not None or row["change_seq"] > watermark:
        return False
    if target == VmState.STOPPED:
        await capacity.release_host(conn, vm_id)
    else:
        ask = await capacity.placement_ask(conn, vm_id)
        assert host_id is not None
        await capacity.force_claim(conn, vm_id, host_id, ask["cpu"], ask["memory_mb"])
    await vm_sync.correct(conn, row, target, power, host_name, host_id=host_id)
    return True


async def stray_migration_claims(conn: Any) -> list[Any]:
    """Target-host claims of migrations no operation is carrying out any more."""
    rows: list[Any] = await conn.fetch(
        """SELECT m.vm_id, m.host_id, m.cpu_mhz, m.memory_mb, h.name AS host, v.name, v.state
           FROM migration_claims m JOIN vms v ON v.id = m.vm_id JOIN hosts h ON h.id = m.host_id
           WHERE v.current_operation_id IS NULL ORDER BY v.name"""
    )
    return rows


async def release_migration_claim(conn: Any, *, vm_id: UUID) -> bool:
    """Drop a stray migration claim and its share of the target's counters (re-checked:
    a VM an operation holds again keeps it)."""
    vm = await conn.fetchrow("SELECT current_operation_id FROM vms WHERE id = $1 FOR UPDATE", vm_id)
    if vm is None or vm["current_operation_id"] is not None:
        return False
    held = await conn.fetchrow(
        "DELETE FROM migration_claims WHERE vm_id = $1 RETURNING host_id, cpu_mhz, memory_mb",
        vm_id,
    )
    if held is None:
        return False
    await conn.execute(
        """UPDATE hosts SET cpu_used_mhz = cpu_used_mhz - $2,
                            memory_used_mb = memory_used_mb - $3 WHERE id = $1""",
        held["host_id"],
        held["cpu_mhz"],
        held["memory_mb"],
    )
    return True
