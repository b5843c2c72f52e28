"""`strato doctor`'s checks, in SQL: the database's own invariants, and the database
against what the agents report.

Each check lists discrepancies with the fix it would apply and, when repairing, applies
it in a transaction that first locks the row and re-checks it, so a repair never undoes
what an operation did meanwhile. Only resources at rest are judged: a VM whose operation
lock is held (or a volume of such a VM) belongs to that operation. Every repair writes a
``strato.doctor.repaired`` event; a state it changes also writes the usual state event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric.payloads import HostVm, PoolVolume
from strato.domain.states import (
    TRANSITIONAL_VM,
    TRANSITIONAL_VOLUME,
    VM_REPAIR,
    VmState,
    VolumeState,
)
from strato.domain.storage.specs import VolumeInfo
from strato.schema import events
from strato.schema.compute import capacity
from strato.schema.db import Database
from strato.schema.fabric import agents
from strato.schema.network import ipam
from strato.schema.transitions import VM, VOLUME, transition

# States a VM is only in while an operation holds its lock.


@dataclass
class Finding:
    check: str
    resource: str
    detail: str
    fix: str
    repaired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriverRepairs:
    """Fixes only an agent can apply: undefine domains, delete volumes nothing owns."""

    undefine: list[HostVm] = field(default_factory=list)
    delete: list[PoolVolume] = field(default_factory=list)


Fix = Callable[[Any], Awaitable[bool]]


class Checks:
    def __init__(self, db: Database, *, repair: bool) -> None:
        self.db = db
        self.repair = repair
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    async def _found(
        self,
        check: str,
        resource_type: str,
        resource_id: UUID | None,
        resource: str,
        detail: str,
        fix: str,
        apply: Fix | None,
    ) -> None:
        """Record a discrepancy; when repairing, apply its fix in its own transaction.
        ``apply`` returns False when the re-check under lock finds nothing to fix."""
        finding = Finding(check, resource, detail, fix)
        self.findings.append(finding)
        if not self.repair or apply is None:
            return
        async with self.db.tx() as conn:
            if await apply(conn):
                await events.append(
                    conn,
                    "strato.doctor.repaired",
                    resource_type,
                    resource_id,
                    payload={"check": check, "detail": detail, "fix": fix},
                )
                finding.repaired = True

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.db.conn() as conn:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows

    # -- the database's own invariants ------------------------------------------------

    async def database(self, orphan_locks: dict[UUID, str]) -> None:
        """Every database check, in the order their fixes build on each other."""
        await self.stuck_vms(orphan_locks)
        await self.host_claims()
        await self.host_counters()
        await self.volumes()
        await self.pool_claims()
        await self.pool_counters()
        await self.addresses()

    async def stuck_vms(self, orphan_locks: dict[UUID, str]) -> None:
        """Transitional states without an operation, and locks held by ended operations."""
        rows = await self._fetch(
            """SELECT id, name, state, current_operation_id FROM vms
               WHERE (current_operation_id IS NULL AND state = ANY($1::text[]))
                  OR current_operation_id = ANY($2::uuid[])
               ORDER BY created_at, id""",
            sorted(TRANSITIONAL_VM),
            list(orphan_locks),
        )
        for r in rows:
            op = r["current_operation_id"]
            if op is None:
                detail = f"VM is {r['state']} but no operation is working on it"
            else:
                detail = f"VM's lock is held by operation {op}, which {orphan_locks[op]}"
            to_error = r["state"] in TRANSITIONAL_VM
            fix = "release the lock" if op is not None else ""
            if to_error:
                fix = (fix + " and " if fix else "") + f"move it from {r['state']} to Error"
            await self._found(
                "stuck-vm",
                "vm",
                r["id"],
                f"vm {r['name']} ({r['id']})",
                detail,
                fix,
                _unstick(r["id"], r["state"], op, detail, to_error),
            )

    async def host_claims(self) -> None:
        """Claims of VMs that hold no host; VMs running without a claim or with a wrong one."""
        for r in await self._fetch(
            """SELECT c.vm_id, c.host_id, c.cpu_mhz, c.memory_mb, h.name AS host, v.name,
                      v.state, v.host_id AS vm_host, v.cpu_count * v.cpu_speed_mhz AS cpu,
                      v.memory_mb AS mem
               FROM host_claims c JOIN vms v ON v.id = c.vm_id JOIN hosts h ON h.id = c.host_id
               WHERE v.current_operation_id IS NULL ORDER BY v.created_at, v.id"""
        ):
            where = f"vm {r['name']} ({r['vm_id']})"
            holds = r["state"] in ("Running", "Stopped") and r["vm_host"] == r["host_id"]
            if not holds:
                await self._found(
                    "stray-host-claim",
                    "vm",
                    r["vm_id"],
                    where,
                    f"claim of {r['cpu_mhz']} MHz / {r['memory_mb']} MiB on {r['host']} "
                    f"while the VM is {r['state']}"
                    + ("" if r["vm_host"] is None else " on another host"),
                    f"release the claim on {r['host']}",
                    _release_claim(r["vm_id"], r["state"], r["host_id"]),
                )
            elif (r["cpu_mhz"], r["memory_mb"]) != (r["cpu"], r["mem"]):
                await self._found(
                    "claim-size",
                    "vm",
                    r["vm_id"],
                    where,
                    f"claim is {r['cpu_mhz']} MHz / {r['memory_mb']} MiB, the VM has "
                    f"{r['cpu']} MHz / {r['mem']} MiB",
                    "set the claim to the VM's size",
                    _resize_claim(r["vm_id"], r["cpu"], r["mem"]),
                )
        for r in await self._fetch(
            """SELECT v.id, v.name, v.host_id, h.name AS host,
                      v.cpu_count * v.cpu_speed_mhz AS cpu, v.memory_mb AS mem
               FROM vms v LEFT JOIN host_claims c ON c.vm_id = v.id
               LEFT JOIN hosts h ON h.id = v.host_id
               WHERE v.current_operation_id IS NULL AND v.state = 'Running'
                 AND c.vm_id IS NULL ORDER BY v.created_at, v.id"""
        ):
            if r["host_id"] is None:
                detail, fix = "VM is Running on no host", "move it from Running to Error"
                apply = _unstick(r["id"], "Running", None, detail, True)
            else:
                detail = f"VM is Running on {r['host']} without a capacity claim"
                fix = f"claim {r['cpu']} MHz / {r['mem']} MiB on {r['host']}"
                apply = _force_claim(r["id"], r["host_id"], r["cpu"], r["mem"])
            await self._found(
                "missing-host-claim",
                "vm",
                r["id"],
                f"vm {r['name']} ({r['id']})",
                detail,
                fix,
                apply,
            )

    async def host_counters(self) -> None:
        for r in await self._fetch(
            """SELECT h.id, h.name, h.cpu_used_mhz, h.memory_used_mb,
                      coalesce(s.cpu, 0) AS cpu, coalesce(s.mem, 0) AS mem, coalesce(s.n, 0) AS n
               FROM hosts h LEFT JOIN (
                   SELECT host_id, sum(cpu_mhz) AS cpu, sum(memory_mb) AS mem, count(*) AS n
                   FROM host_claims GROUP BY host_id) s ON s.host_id = h.id
               WHERE h.cpu_used_mhz <> coalesce(s.cpu, 0)
                  OR h.memory_used_mb <> coalesce(s.mem, 0)
               ORDER BY h.name"""
        ):
            await self._found(
                "host-capacity",
                "host",
                r["id"],
                f"host {r['name']}",
                f"used counters say {r['cpu_used_mhz']} MHz / {r['memory_used_mb']} MiB, "
                f"its {r['n']} claim(s) sum to {r['cpu']} MHz / {r['mem']} MiB",
                "set the counters to the sum of the claims",
                _recount_host(r["id"]),
            )

    async def volumes(self) -> None:
        """Volumes left in a transitional state, and live volumes of expunged VMs."""
        for r in await self._fetch(
            """SELECT vol.id, vol.name, vol.state, v.state AS vm_state FROM volumes vol
               LEFT JOIN vms v ON v.id = vol.vm_id
               WHERE (v.id IS NULL OR v.current_operation_id IS NULL)
                 AND (vol.state = ANY($1::text[])
                      OR (v.state = 'Expunged' AND vol.state <> 'Expunged'))
               ORDER BY vol.created_at, vol.id""",
            sorted(TRANSITIONAL_VOLUME),
        ):
            if r["vm_state"] == "Expunged":
                detail = f"volume is {r['state']} but its VM is Expunged"
                target = "Expunged"
            else:
                detail = f"volume is {r['state']} but no operation is working on it"
                target = "Error"
            await self._found(
                "stuck-volume",
                "volume",
                r["id"],
                f"volume {r['name']}",
                detail,
                f"move it from {r['state']} to {target}"
                + (" and release its storage claim" if target == "Expunged" else ""),
                _volume_state(r["id"], r["state"], target),
            )

    async def pool_claims(self) -> None:
        for r in await self._fetch(
            """SELECT c.volume_id, c.pool_id, c.bytes, p.name AS pool, vol.name, vol.state,
                      vol.pool_id AS vol_pool
               FROM pool_claims c JOIN volumes vol ON vol.id = c.volume_id
               JOIN storage_pools p ON p.id = c.pool_id LEFT JOIN vms v ON v.id = vol.vm_id
               WHERE (v.id IS NULL OR v.current_operation_id IS NULL)
                 AND NOT (vol.state = 'Ready' AND vol.pool_id = c.pool_id)
               ORDER BY vol.created_at, vol.id"""
        ):
            await self._found(
                "stray-pool-claim",
                "volume",
                r["volume_id"],
                f"volume {r['name']}",
                f"claim of {r['bytes']} bytes on {r['pool']} while the volume is {r['state']}"
                + ("" if r["vol_pool"] == r["pool_id"] else " on another pool"),
                f"release the claim on {r['pool']}",
                _release_pool_claim(r["volume_id"], r["state"]),
            )
        for r in await self._fetch(
            """SELECT vol.id, vol.name, vol.pool_id, vol.size_bytes, p.name AS pool
               FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id
               LEFT JOIN pool_claims c ON c.volume_id = vol.id LEFT JOIN vms v ON v.id = vol.vm_id
               WHERE (v.id IS NULL OR v.current_operation_id IS NULL)
                 AND vol.state = 'Ready' AND c.volume_id IS NULL
               ORDER BY vol.created_at, vol.id"""
        ):
            await self._found(
                "missing-pool-claim",
                "volume",
                r["id"],
                f"volume {r['name']}",
                f"volume is Ready on {r['pool']} without a storage claim",
                f"claim {r['size_bytes']} bytes on {r['pool']}",
                _insert_pool_claim(r["id"], r["pool_id"], r["size_bytes"]),
            )

    async def pool_counters(self) -> None:
        for r in await self._fetch(
            """SELECT p.id, p.name, p.allocated_bytes, coalesce(s.b, 0) AS b, coalesce(s.n, 0) AS n
               FROM storage_pools p LEFT JOIN (
                   SELECT pool_id, sum(bytes) AS b, count(*) AS n FROM pool_claims
                   GROUP BY pool_id) s ON s.pool_id = p.id
               WHERE p.allocated_bytes <> coalesce(s.b, 0) ORDER BY p.name"""
        ):
            await self._found(
                "pool-capacity",
                "storage_pool",
                r["id"],
                f"pool {r['name']}",
                f"allocated counter says {r['allocated_bytes']} bytes, its {r['n']} claim(s) "
                f"sum to {r['b']}",
                "set the counter to the sum of the claims",
                _recount_pool(r["id"]),
            )

    async def addresses(self) -> None:
        """Addresses held by nobody, NICs of expunged VMs, NICs whose address is not theirs."""
        for r in await self._fetch(
            """SELECT a.id, host(a.address) AS ip, a.state, a.vm_id, v.name, v.state AS vm_state
               FROM ip_addresses a LEFT JOIN vms v ON v.id = a.vm_id
               LEFT JOIN nics n ON n.id = a.nic_id
               WHERE a.state <> 'Free' AND (v.id IS NULL OR v.current_operation_id IS NULL)
                 AND (v.id IS NULL OR v.state = 'Expunged' OR n.id IS NULL
                      OR n.vm_id <> a.vm_id)
               ORDER BY a.address"""
        ):
            if r["vm_id"] is None or r["name"] is None:
                why = "no VM"
            elif r["vm_state"] == "Expunged":
                why = f"VM {r['name']}, which is Expunged"
            else:
                why = f"VM {r['name']} through a NIC it does not have"
            await self._found(
                "leaked-ip",
                "ip_address",
                r["id"],
                f"ip {r['ip']}",
                f"address is {r['state']} for {why}",
                "free the address",
                _free_address(r["id"], r["vm_id"]),
            )
        for r in await self._fetch(
            """SELECT DISTINCT v.id, v.name FROM nics n JOIN vms v ON v.id = n.vm_id
               WHERE v.state = 'Expunged' AND v.current_operation_id IS NULL"""
        ):
            await self._found(
                "leaked-nic",
                "vm",
                r["id"],
                f"vm {r['name']} ({r['id']})",
                "VM is Expunged but still has NICs",
                "remove its NICs and free their addresses",
                _release_nics(r["id"]),
            )
        for r in await self._fetch(
            """SELECT n.id, n.vm_id, v.name, host(n.ip_address) AS ip, n.network_id,
                      other.vm_id AS holder
               FROM nics n JOIN vms v ON v.id = n.vm_id
               LEFT JOIN ip_addresses a ON a.nic_id = n.id AND a.address = n.ip_address
               LEFT JOIN ip_addresses other
                      ON other.network_id = n.network_id AND other.address = n.ip_address
                     AND other.state <> 'Free'
               WHERE n.ip_address IS NOT NULL AND a.id IS NULL
                 AND v.current_operation_id IS NULL AND v.state <> 'Expunged'"""
        ):
            where = f"vm {r['name']} ({r['vm_id']})"
            if r["holder"] is not None:
                await self._found(
                    "duplicate-ip",
                    "vm",
                    r["vm_id"],
                    where,
                    f"NIC has {r['ip']}, which is allocated to VM {r['holder']}",
                    "",
                    None,
                )
                continue
            await self._found(
                "unrecorded-ip",
                "vm",
                r["vm_id"],
                where,
                f"NIC has {r['ip']}, which the address pool records as Free",
                f"allocate {r['ip']} to the NIC",
                _allocate_address(r["id"], r["vm_id"], r["network_id"], r["ip"]),
            )

    # -- the database against the agents' reports ------------------------------------

    async def hosts_report(
        self, reports: dict[str, list[VmPowerInfo]], taken_at: datetime, repairs: DriverRepairs
    ) -> None:
        for host_name in sorted(reports):
            await self._host_report(host_name, reports[host_name], taken_at, repairs)

    async def _host_report(
        self,
        host_name: str,
        report: list[VmPowerInfo],
        taken_at: datetime,
        repairs: DriverRepairs,
    ) -> None:
        host_id = (await self._fetch("SELECT id FROM hosts WHERE name = $1", host_name))[0]["id"]
        seen = {v.uuid: v for v in report if v.managed}
        rows = await self._fetch(
            """SELECT id, name, state, host_id, current_operation_id, updated_at FROM vms
               WHERE host_id = $1 OR id::text = ANY($2::text[])""",
            host_id,
            list(seen),
        )
        by_id = {str(r["id"]): r for r in rows}

        def at_rest(r: Any) -> bool:
            return bool(r["current_operation_id"] is None and r["updated_at"] < taken_at)

        for r in rows:
            if not (at_rest(r) and r["state"] == "Running" and r["host_id"] == host_id):
                continue
            dom = seen.get(str(r["id"]))
            power = dom.power if dom is not None else PowerState.MISSING
            if power in (PowerState.STOPPED, PowerState.MISSING):
                await self._found(
                    "vm-not-running",
                    "vm",
                    r["id"],
                    f"vm {r['name']} ({r['id']})",
                    f"VM is Running on {host_name}, whose hypervisor reports it {power}",
                    "record it Stopped and release its capacity",
                    _observed(r["id"], VmState.STOPPED, power, host_name, None, taken_at),
                )
        for dom in report:
            if not dom.managed:
                self.notes.append(f"{host_name}: domain {dom.name} is not Strato's (left alone)")
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
                await self._found(
                    "vm-running-unrecorded",
                    "vm",
                    row["id"],
                    where,
                    f"VM {row['name']} is Stopped, yet its domain runs on {host_name}",
                    f"record it Running on {host_name} and claim its capacity",
                    _observed(row["id"], VmState.RUNNING, dom.power, host_name, host_id, taken_at),
                )
                continue
            why = (
                "no VM has this domain's uuid"
                if row is None
                else f"VM {row['name']} is {row['state']}"
                + ("" if row["host_id"] in (None, host_id) else " on another host")
            )
            self.findings.append(
                Finding(
                    "orphan-domain",
                    where,
                    f"domain is {dom.power} but {why}",
                    f"undefine {dom.name} on {host_name}",
                )
            )
            repairs.undefine.append(HostVm(host=host_name, name=dom.name))

    async def pools_report(
        self, reports: dict[str, list[VolumeInfo]], taken_at: datetime, repairs: DriverRepairs
    ) -> None:
        for pool_name in sorted(reports):
            listed = {v.name for v in reports[pool_name]}
            rows = await self._fetch(
                """SELECT vol.id, vol.name, vol.state, vol.updated_at,
                          v.current_operation_id AS op
                   FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id
                   LEFT JOIN vms v ON v.id = vol.vm_id
                   WHERE p.name = $1 AND vol.state <> 'Expunged'""",
                pool_name,
            )
            owned = {r["name"] for r in rows}
            for r in rows:
                at_rest = r["op"] is None and r["updated_at"] < taken_at
                if at_rest and r["state"] == "Ready" and r["name"] not in listed:
                    await self._found(
                        "volume-missing",
                        "volume",
                        r["id"],
                        f"volume {r['name']}",
                        f"volume is Ready on {pool_name}, which does not hold it",
                        "move it from Ready to Error",
                        _volume_state(r["id"], "Ready", "Error"),
                    )
            for name in sorted(listed - owned):
                if not name.startswith("strato-vol-"):
                    self.notes.append(f"{pool_name}: volume {name} is not Strato's (left alone)")
                    continue
                if await self._recently_owned(name, taken_at):
                    continue
                self.findings.append(
                    Finding(
                        "orphan-volume",
                        f"volume {name} on {pool_name}",
                        "the pool holds a volume no live volume record owns",
                        f"delete {name} on {pool_name}",
                    )
                )
                repairs.delete.append(PoolVolume(pool=pool_name, name=name))

    async def _recently_owned(self, name: str, taken_at: datetime) -> bool:
        """A volume record changed since the listing (or its VM is mid-operation)."""
        rows = await self._fetch(
            """SELECT 1 FROM volumes vol LEFT JOIN vms v ON v.id = vol.vm_id
               WHERE vol.name = $1
                 AND (vol.updated_at >= $2 OR v.current_operation_id IS NOT NULL)""",
            name,
            taken_at,
        )
        return bool(rows)


# -- fixes: each locks its row, re-checks the discrepancy, and returns whether it acted --


def _unstick(vm_id: UUID, state: str, op: UUID | None, detail: str, to_error: bool) -> Fix:
    async def apply(conn: Any) -> bool:
        row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
        if row is None or row["state"] != state or row["current_operation_id"] != op:
            return False
        if not to_error:
            await conn.execute(
                """UPDATE vms SET current_operation_id = NULL, current_operation_kind = NULL,
                                  version = version + 1, updated_at = clock_timestamp()
                   WHERE id = $1""",
                vm_id,
            )
            return True
        await capacity.release_host(conn, vm_id)
        error = f"{detail} (moved to Error by strato doctor)"
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
            },
        )
        return True

    return apply


async def _lock_vm(conn: Any, vm_id: UUID) -> Any:
    """The VM's state and lock holder, its row locked until the fix commits (None: gone)."""
    return await conn.fetchrow(
        "SELECT state, current_operation_id FROM vms WHERE id = $1 FOR UPDATE", vm_id
    )


async def _vm_at_rest(conn: Any, vm_id: UUID, state: str) -> bool:
    row = await _lock_vm(conn, vm_id)
    return bool(row is not None and row["state"] == state and row["current_operation_id"] is None)


def _release_claim(vm_id: UUID, state: str, host_id: UUID) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _vm_at_rest(conn, vm_id, state):
            return False
        held = await capacity.current_claim(conn, vm_id)
        if held is None or held[0] != host_id:
            return False
        await capacity.release_host(conn, vm_id)
        return True

    return apply


def _resize_claim(vm_id: UUID, cpu: int, mem: int) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _vm_at_rest(conn, vm_id, "Running"):
            return False
        row = await conn.fetchrow(
            "SELECT host_id, cpu_mhz, memory_mb FROM host_claims WHERE vm_id = $1 FOR UPDATE",
            vm_id,
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

    return apply


def _force_claim(vm_id: UUID, host_id: UUID, cpu: int, mem: int) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _vm_at_rest(conn, vm_id, "Running"):
            return False
        if await capacity.current_claim(conn, vm_id) is not None:
            return False
        await capacity.force_claim(conn, vm_id, host_id, cpu, mem)
        return True

    return apply


def _recount_host(host_id: UUID) -> Fix:
    async def apply(conn: Any) -> bool:
        await conn.execute("SELECT 1 FROM hosts WHERE id = $1 FOR UPDATE", host_id)
        status: str = await conn.execute(
            """UPDATE hosts h SET cpu_used_mhz = s.cpu, memory_used_mb = s.mem
               FROM (SELECT coalesce(sum(cpu_mhz), 0) AS cpu, coalesce(sum(memory_mb), 0) AS mem
                     FROM host_claims WHERE host_id = $1) s
               WHERE h.id = $1 AND (h.cpu_used_mhz <> s.cpu OR h.memory_used_mb <> s.mem)""",
            host_id,
        )
        return status.endswith(" 1")

    return apply


def _recount_pool(pool_id: UUID) -> Fix:
    async def apply(conn: Any) -> bool:
        await conn.execute("SELECT 1 FROM storage_pools WHERE id = $1 FOR UPDATE", pool_id)
        status: str = await conn.execute(
            """UPDATE storage_pools p SET allocated_bytes = s.b
               FROM (SELECT coalesce(sum(bytes), 0) AS b FROM pool_claims WHERE pool_id = $1) s
               WHERE p.id = $1 AND p.allocated_bytes <> s.b""",
            pool_id,
        )
        return status.endswith(" 1")

    return apply


async def _volume_at_rest(conn: Any, volume_id: UUID, state: str) -> bool:
    row = await conn.fetchrow(
        """SELECT vol.state, v.current_operation_id AS op FROM volumes vol
           LEFT JOIN vms v ON v.id = vol.vm_id WHERE vol.id = $1 FOR UPDATE OF vol""",
        volume_id,
    )
    return bool(row is not None and row["state"] == state and row["op"] is None)


def _volume_state(volume_id: UUID, state: str, target: str) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _volume_at_rest(conn, volume_id, state):
            return False
        if target == "Expunged":
            await capacity.release_pool(conn, volume_id)
        await transition(conn, VOLUME, volume_id, VolumeState(target))
        return True

    return apply


def _release_pool_claim(volume_id: UUID, state: str) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _volume_at_rest(conn, volume_id, state):
            return False
        await capacity.release_pool(conn, volume_id)
        return True

    return apply


def _insert_pool_claim(volume_id: UUID, pool_id: UUID, size: int) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _volume_at_rest(conn, volume_id, "Ready"):
            return False
        await conn.execute("SELECT 1 FROM storage_pools WHERE id = $1 FOR UPDATE", pool_id)
        status: str = await conn.execute(
            """INSERT INTO pool_claims (volume_id, pool_id, bytes) VALUES ($1, $2, $3)
               ON CONFLICT (volume_id) DO NOTHING""",
            volume_id,
            pool_id,
            size,
        )
        if not status.endswith(" 1"):
            return False
        await conn.execute(
            "UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2 WHERE id = $1",
            pool_id,
            size,
        )
        return True

    return apply


def _free_address(address_id: UUID, vm_id: UUID | None) -> Fix:
    async def apply(conn: Any) -> bool:
        if vm_id is not None:
            row = await _lock_vm(conn, vm_id)
            if row is not None and row["current_operation_id"] is not None:
                return False
        status: str = await conn.execute(
            """UPDATE ip_addresses SET state = 'Free', vm_id = NULL, nic_id = NULL,
                                       allocated_at = NULL, version = version + 1,
                                       updated_at = clock_timestamp()
               WHERE id = $1 AND state <> 'Free' AND vm_id IS NOT DISTINCT FROM $2""",
            address_id,
            vm_id,
        )
        return status.endswith(" 1")

    return apply


def _release_nics(vm_id: UUID) -> Fix:
    async def apply(conn: Any) -> bool:
        if not await _vm_at_rest(conn, vm_id, "Expunged"):
            return False
        await ipam.release_nics(conn, vm_id)
        return True

    return apply


def _allocate_address(nic_id: UUID, vm_id: UUID, network_id: UUID, ip: str) -> Fix:
    async def apply(conn: Any) -> bool:
        row = await _lock_vm(conn, vm_id)
        if row is None or row["current_operation_id"] is not None:
            return False
        status: str = await conn.execute(
            """UPDATE ip_addresses SET state = 'Allocated', vm_id = $2, nic_id = $3,
                                       allocated_at = clock_timestamp(), version = version + 1,
                                       updated_at = clock_timestamp()
               WHERE network_id = $1 AND address = $4::inet AND state = 'Free'""",
            network_id,
            vm_id,
            nic_id,
            ip,
        )
        return status.endswith(" 1")

    return apply


def _observed(
    vm_id: UUID,
    target: VmState,
    power: PowerState,
    host_name: str,
    host_id: UUID | None,
    taken_at: datetime,
) -> Fix:
    """Record what the hypervisor reported (the same correction VM sync makes)."""

    async def apply(conn: Any) -> bool:
        row = await conn.fetchrow("SELECT * FROM vms WHERE id = $1 FOR UPDATE", vm_id)
        if row is None or row["current_operation_id"] is not None or row["updated_at"] >= taken_at:
            return False
        if target == VmState.STOPPED:
            await capacity.release_host(conn, vm_id)
        else:
            ask = await capacity.placement_ask(conn, vm_id)
            assert host_id is not None
            await capacity.force_claim(conn, vm_id, host_id, ask["cpu"], ask["memory_mb"])
        await agents.correct(conn, row, target, power, host_name, host_id=host_id)
        return True

    return apply


# -- what the service layer needs to read ---------------------------------------------


async def locked_vms(conn: Any) -> list[Any]:
    """VMs whose lock is held, with the operation that holds it (if it has a row)."""
    rows: list[Any] = await conn.fetch(
        """SELECT v.id, v.current_operation_id AS op, o.workflow_id, o.run_id
           FROM vms v LEFT JOIN operations o ON o.id = v.current_operation_id
           WHERE v.current_operation_id IS NOT NULL"""
    )
    return rows


async def reachable(conn: Any) -> tuple[list[str], list[str], list[str]]:
    """Hosts and pools whose agents can answer, and a note for each that cannot."""
    hosts = await conn.fetch("SELECT name, status FROM hosts ORDER BY name")
    pools = await conn.fetch("SELECT name, state FROM storage_pools ORDER BY name")
    notes = [
        f"host {h['name']} is {h['status']}: not compared" for h in hosts if h["status"] != "Up"
    ]
    notes += [
        f"pool {p['name']} is {p['state']}: not compared" for p in pools if p["state"] != "Up"
    ]
    return (
        [h["name"] for h in hosts if h["status"] == "Up"],
        [p["name"] for p in pools if p["state"] == "Up"],
        notes,
    )


async def now(conn: Any) -> datetime:
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def record_agent_repair(conn: Any, finding: Finding) -> None:
    await events.append(
        conn,
        "strato.doctor.repaired",
        "host" if finding.check == "orphan-domain" else "storage_pool",
        None,
        payload={"check": finding.check, "detail": finding.detail, "fix": finding.fix},
    )
