"""Managed services and their instances (:mod:`strato.domain.fleet`): what a
reconciler round reads (an observation), and what it records (health, instances,
status). Status columns are written without events (a round runs every few seconds);
the changes that matter to people (an instance healthy, failed, added, retired; a scale;
a rollout) are events of the service."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.fleet.flows import Observation, ProbeOutcome
from strato.domain.fleet.models import ManagedService, ServiceInstanceView
from strato.domain.fleet.plan import Observed
from strato.domain.ids import compute_queue
from strato.schema import events
from strato.schema.compute import stats
from strato.schema.compute.vms import hypervisor_name
from strato.schema.repository import TableSpec

MANAGED_SERVICES = TableSpec(
    "managed_services",
    "managed_service",
    ManagedService,
    references={
        "zone_id": "zone",
        "template_id": "template",
        "service_offering_id": "service offering",
        "affinity_group_id": "affinity group",
    },
)

_INSTANCES = """
    SELECT i.*, v.state AS vm_state, v.current_operation_id IS NOT NULL AS locked,
           h.name AS host_name,
           (SELECT host(n.ip_address) FROM nics n
             WHERE n.vm_id = i.vm_id AND n.ip_address IS NOT NULL
             ORDER BY n.device_id LIMIT 1) AS address,
           extract(epoch FROM clock_timestamp() - i.created_at) AS age_s,
           extract(epoch FROM clock_timestamp() - i.checked_at) AS since_check_s
    FROM managed_service_instances i
    LEFT JOIN vms v ON v.id = i.vm_id
    LEFT JOIN hosts h ON h.id = v.host_id
    WHERE i.service_id = $1
    ORDER BY i.created_at, i.vm_id"""


def _observed(row: Any) -> Observed:
    state = row["vm_state"]
    running = state == "Running" and row["host_name"] is not None
    return Observed(
        vm_id=row["vm_id"],
        vm_name=hypervisor_name(row["vm_id"]),
        release=row["release"],
        health=row["health"],
        failures=row["failures"],
        vm_state=None if state in (None, "Expunged") else state,
        locked=bool(row["locked"]),
        host_queue=compute_queue(row["host_name"]) if running else None,
        address=row["address"],
        age_s=float(row["age_s"]),
        detail=row["detail"],
        since_check_s=None if row["since_check_s"] is None else float(row["since_check_s"]),
        served=row["healthy_since"] is not None,
    )


async def _event(conn: Any, svc_id: UUID, type: str, **payload: Any) -> None:
    await events.append(
        conn, f"strato.managed_service.{type}", "managed_service", svc_id, payload=payload
    )


async def every_id(conn: Any) -> list[UUID]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM managed_services ORDER BY id")]


async def find(conn: Any, service_id: UUID) -> ManagedService | None:
    row = await conn.fetchrow("SELECT * FROM managed_services WHERE id = $1", service_id)
    return MANAGED_SERVICES.to_model(row) if row is not None else None


async def metric_value(conn: Any, svc: ManagedService, instances: list[Observed]) -> float | None:
    """The autoscale metric now: ``cpu``, the serving instances' mean CPU use (percent
    of their vCPUs, between their last two samples); ``custom:<name>``, the last value
    the service reported. None when there is none yet."""
    if svc.autoscale is None:
        return None
    metric = svc.autoscale.metric
    if metric.startswith("custom:"):
        value = await conn.fetchval(
            "SELECT value FROM managed_service_metrics WHERE service_id = $1 AND name = $2",
            svc.id,
            metric.removeprefix("custom:"),
        )
        return float(value) if value is not None else None
    samples = []
    for i in instances:
        if i.serving:
            got = await stats.vm(conn, i.vm_id)
            if got is not None and got["cpu_percent"] is not None:
                samples.append(float(got["cpu_percent"]))
    return sum(samples) / len(samples) if samples else None


async def observe(conn: Any, service_id: UUID) -> Observation:
    """The service, its instances (an instance whose VM is gone and that was retiring is
    forgotten here) and its autoscale metric."""
    svc = await find(conn, service_id)
    if svc is None:
        return Observation(service=None)
    rows = await conn.fetch(_INSTANCES, service_id)
    gone = [
        r["vm_id"]
        for r in rows
        if r["health"] == "retiring" and r["vm_state"] in (None, "Expunged")
    ]
    if gone:
        await conn.execute(
            "DELETE FROM managed_service_instances WHERE vm_id = ANY($1::uuid[])", gone
        )
    instances = [_observed(r) for r in rows if r["vm_id"] not in gone]
    since = await conn.fetchrow(
        """SELECT extract(epoch FROM clock_timestamp() - last_scaled_at) AS scaled,
                  extract(epoch FROM clock_timestamp() - last_failed_at) AS failed
           FROM managed_services WHERE id = $1""",
        service_id,
    )
    return Observation(
        service=svc,
        instances=instances,
        metric=await metric_value(conn, svc, instances),
        since_scaled_s=None if since["scaled"] is None else float(since["scaled"]),
        since_failed_s=None if since["failed"] is None else float(since["failed"]),
    )


async def record_health(
    conn: Any, svc: ManagedService, instances: list[Observed], outcomes: dict[str, ProbeOutcome]
) -> list[Observed]:
    """Each probed instance's outcome: passing on success (failures reset); one more
    failure otherwise, failing once ``unhealthy_after`` failures in a row come from an
    instance that passed before or is past its grace. Returns the instances as now."""
    check = svc.health
    out: list[Observed] = []
    for inst in instances:
        got = outcomes.get(str(inst.vm_id))
        if got is None or inst.health == "retiring":
            out.append(inst)
            continue
        health, failures = inst.health, inst.failures
        if got.ok:
            health, failures = "passing", 0
        else:
            failures += 1
            judged = inst.health == "passing" or inst.age_s > check.grace_s
            if judged and failures >= check.unhealthy_after:
                health = "failing"
        await conn.execute(
            """UPDATE managed_service_instances
               SET health = $2, failures = $3, detail = $4, updated_at = clock_timestamp(),
                   checked_at = clock_timestamp(),
                   healthy_since = CASE WHEN $2 = 'passing'
                                        THEN coalesce(healthy_since, clock_timestamp())
                                        ELSE healthy_since END
               WHERE vm_id = $1""",
            inst.vm_id,
            health,
            failures,
            got.detail,
        )
        if health == "passing" and svc.failed_deploys:
            await conn.execute(
                "UPDATE managed_services SET failed_deploys = 0 WHERE id = $1", svc.id
            )
        if health != inst.health and health in ("passing", "failing"):
            await _event(
                conn,
                svc.id,
                "instance_healthy" if health == "passing" else "instance_failed",
                vm_id=str(inst.vm_id),
                release=inst.release,
                detail=got.detail,
            )
        change: dict[str, Any] = {"health": health, "failures": failures, "detail": got.detail}
        change |= {"since_check_s": 0.0, "served": inst.served or got.ok}
        out.append(inst.model_copy(update=change))
    return out


async def add_instance(conn: Any, svc: ManagedService, vm_id: UUID) -> bool:
    """Record a deployed instance (False: it was recorded already, by an earlier try)."""
    added = await conn.fetchval(
        """INSERT INTO managed_service_instances (vm_id, service_id, release)
           VALUES ($1, $2, $3) ON CONFLICT (vm_id) DO NOTHING RETURNING true""",
        vm_id,
        svc.id,
        svc.release,
    )
    if added:
        await _event(conn, svc.id, "instance_added", vm_id=str(vm_id), release=svc.release)
    return bool(added)


async def retiring(conn: Any, svc_id: UUID, vm_id: UUID, reason: str, failed: bool) -> str | None:
    """Mark an instance as leaving (once, with its event; a failed deploy counted for
    the backoff); its directory name, if any."""
    row = await conn.fetchrow(
        """UPDATE managed_service_instances i SET health = 'retiring', detail = $3,
                  updated_at = clock_timestamp()
           FROM managed_service_instances old
           WHERE i.vm_id = $1 AND i.service_id = $2 AND old.vm_id = i.vm_id
           RETURNING old.health AS was, i.directory_name, i.release""",
        vm_id,
        svc_id,
        reason,
    )
    if row is None:
        return None
    if row["was"] != "retiring":
        await _event(
            conn,
            svc_id,
            "instance_retired",
            vm_id=str(vm_id),
            release=row["release"],
            reason=reason,
        )
        if failed:
            await conn.execute(
                """UPDATE managed_services SET failed_deploys = failed_deploys + 1,
                          last_failed_at = clock_timestamp()
                   WHERE id = $1""",
                svc_id,
            )
    name: str | None = row["directory_name"]
    return name


async def forget(conn: Any, vm_id: UUID) -> None:
    await conn.execute("DELETE FROM managed_service_instances WHERE vm_id = $1", vm_id)


async def set_directory_name(conn: Any, vm_id: UUID, name: str | None) -> None:
    await conn.execute(
        "UPDATE managed_service_instances SET directory_name = $2 WHERE vm_id = $1", vm_id, name
    )


async def set_status(conn: Any, svc_id: UUID, instances: list[Observed]) -> None:
    """What the round saw (no event: it changes every round)."""
    await conn.execute(
        """UPDATE managed_services SET healthy = $2, instances = $3,
                  observed_at = clock_timestamp()
           WHERE id = $1""",
        svc_id,
        sum(1 for i in instances if i.serving),
        sum(1 for i in instances if i.health != "retiring"),
    )


async def scaled(conn: Any, svc_id: UUID, was: int, desired: int, reason: str) -> bool:
    """Desired ``was`` -> ``desired`` (within the bounds as they are now), unless someone
    changed desired since the plan read it: then the plan's change is dropped (False)."""
    new = await conn.fetchval(
        """UPDATE managed_services
           SET desired = least(greatest($3, min_instances), max_instances),
               last_scaled_at = clock_timestamp(), version = version + 1,
               updated_at = clock_timestamp()
           WHERE id = $1 AND desired = $2 AND state = 'Active'
           RETURNING desired""",
        svc_id,
        was,
        desired,
    )
    if new is None or new == was:
        return False
    await _event(conn, svc_id, "scaled", old=was, new=new, reason=reason)
    return True


async def rollout_finished(conn: Any, svc_id: UUID, release: str) -> None:
    """The rollout to ``release`` is done (once: a later rollout is left alone)."""
    previous = await conn.fetchval(
        """UPDATE managed_services s SET previous_release = NULL, version = s.version + 1,
                  updated_at = clock_timestamp()
           FROM managed_services old
           WHERE s.id = $1 AND old.id = s.id AND s.release = $2
             AND s.previous_release IS NOT NULL
           RETURNING old.previous_release""",
        svc_id,
        release,
    )
    if previous is not None:
        await _event(conn, svc_id, "rollout_finished", release=release, previous=previous)


async def set_error(conn: Any, svc_id: UUID, error: str | None) -> None:
    """The last deploy's refusal (None: the last deploys were accepted); an event when
    it changes."""
    old = await conn.fetchrow(
        """UPDATE managed_services s SET last_error = $2
           FROM managed_services old
           WHERE s.id = $1 AND old.id = s.id
           RETURNING old.last_error""",
        svc_id,
        error,
    )
    if error is not None and old is not None and old["last_error"] != error:
        await _event(conn, svc_id, "deploy_refused", detail=error)


async def report_metric(conn: Any, svc_id: UUID, name: str, value: float) -> None:
    await conn.execute(
        """INSERT INTO managed_service_metrics (service_id, name, value) VALUES ($1, $2, $3)
           ON CONFLICT (service_id, name) DO UPDATE
           SET value = EXCLUDED.value, reported_at = clock_timestamp()""",
        svc_id,
        name,
        value,
    )


async def metrics(conn: Any, svc: ManagedService) -> dict[str, float | None]:
    rows = await conn.fetch(
        "SELECT name, value FROM managed_service_metrics WHERE service_id = $1", svc.id
    )
    got = {r["name"]: float(r["value"]) for r in rows}
    return {name: got.get(name) for name in svc.metrics}


async def instance_views(conn: Any, svc_id: UUID) -> list[ServiceInstanceView]:
    rows = await conn.fetch(_INSTANCES, svc_id)
    return [ServiceInstanceView.model_validate({**dict(r), "service_id": svc_id}) for r in rows]


async def stuck_retirements(conn: Any, svc_id: UUID) -> list[UUID]:
    """Retiring instances whose VM is still there and free (its destroy was refused or
    failed): destroyed again each round until gone."""
    rows = await conn.fetch(
        """SELECT i.vm_id FROM managed_service_instances i JOIN vms v ON v.id = i.vm_id
           WHERE i.service_id = $1 AND i.health = 'retiring' AND v.state <> 'Expunged'
             AND v.current_operation_id IS NULL""",
        svc_id,
    )
    return [r["vm_id"] for r in rows]


async def remove(conn: Any, svc: ManagedService) -> None:
    """A deleted service with no instance left: its row, metrics and affinity group."""
    await conn.execute("DELETE FROM managed_services WHERE id = $1", svc.id)
    if svc.affinity_group_id is not None:
        # Its VMs are expunged; their memberships go with the group.
        await conn.execute(
            "DELETE FROM vm_affinity_groups WHERE group_id = $1", svc.affinity_group_id
        )
        await conn.execute("DELETE FROM affinity_groups WHERE id = $1", svc.affinity_group_id)
    await _event(conn, svc.id, "deleted", name=svc.name)
