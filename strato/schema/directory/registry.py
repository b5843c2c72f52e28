"""Registering service instances, their heartbeats and health, each change with its
event (``strato.service.registered`` / ``health_changed`` / ``deregistered``)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from strato.domain.directory.models import (
    Endpoint,
    ServiceBeat,
    ServiceInstance,
    ServiceRegister,
)
from strato.domain.errors import NotFound
from strato.schema import events


def _instance(row: Any) -> ServiceInstance:
    return ServiceInstance.model_validate(dict(row))


async def _health_event(conn: Any, row: Any, old: str, new: str, detail: str | None) -> None:
    await events.append(
        conn,
        "strato.service.health_changed",
        "service",
        row["id"],
        old_state=old,
        new_state=new,
        payload={"name": row["name"], "kind": row["kind"], "detail": detail},
    )


async def register(conn: Any, inp: ServiceRegister) -> ServiceInstance:
    """Create the instance, or refresh the one of that name (passing again)."""
    old = await conn.fetchrow(
        "SELECT * FROM service_instances WHERE name = $1 FOR UPDATE", inp.name
    )
    row = await conn.fetchrow(
        """INSERT INTO service_instances
               (id, name, kind, version, zone, endpoints, metadata, check_kind, check_target,
                ttl_s, deregister_after_s)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (name) DO UPDATE SET
               kind = EXCLUDED.kind, version = EXCLUDED.version, zone = EXCLUDED.zone,
               endpoints = EXCLUDED.endpoints, metadata = EXCLUDED.metadata,
               check_kind = EXCLUDED.check_kind, check_target = EXCLUDED.check_target,
               ttl_s = EXCLUDED.ttl_s, deregister_after_s = EXCLUDED.deregister_after_s,
               health = 'passing', health_detail = NULL, critical_since = NULL,
               last_seen_at = clock_timestamp(), updated_at = clock_timestamp()
           RETURNING *""",
        uuid4(),
        inp.name,
        inp.kind,
        inp.version,
        inp.zone,
        json.loads(json.dumps([e.model_dump() for e in inp.endpoints])),
        inp.metadata,
        inp.check_kind,
        inp.check_target,
        inp.ttl_s,
        inp.deregister_after_s,
    )
    if old is None:
        await events.append(
            conn,
            "strato.service.registered",
            "service",
            row["id"],
            new_state="passing",
            payload={"name": row["name"], "kind": row["kind"]},
        )
    elif old["health"] != "passing":
        await _health_event(conn, row, old["health"], "passing", "registered again")
    return _instance(row)


async def beat(conn: Any, instance_id: UUID, inp: ServiceBeat) -> ServiceInstance:
    """A TTL heartbeat; NotFound once the instance was removed (register again)."""
    old = await conn.fetchrow(
        "SELECT health FROM service_instances WHERE id = $1 FOR UPDATE", instance_id
    )
    if old is None:
        raise NotFound(
            f"service instance {instance_id} is not registered (it may have been removed "
            "after its TTL lapsed): register again",
            id=str(instance_id),
        )
    row = await conn.fetchrow(
        """UPDATE service_instances
           SET last_seen_at = clock_timestamp(), health = $2, health_detail = $3,
               critical_since = NULL, updated_at = clock_timestamp()
           WHERE id = $1 RETURNING *""",
        instance_id,
        inp.health,
        inp.detail,
    )
    if old["health"] != inp.health:
        await _health_event(conn, row, old["health"], inp.health, inp.detail)
    return _instance(row)


async def deregister(conn: Any, instance_id: UUID, reason: str = "deregistered") -> None:
    row = await conn.fetchrow(
        "DELETE FROM service_instances WHERE id = $1 RETURNING *", instance_id
    )
    if row is None:
        raise NotFound(f"service instance {instance_id} is not registered", id=str(instance_id))
    await events.append(
        conn,
        "strato.service.deregistered",
        "service",
        instance_id,
        old_state=row["health"],
        payload={"name": row["name"], "kind": row["kind"], "reason": reason},
    )


async def get(conn: Any, instance_id: UUID) -> ServiceInstance:
    row = await conn.fetchrow("SELECT * FROM service_instances WHERE id = $1", instance_id)
    if row is None:
        raise NotFound(f"service instance {instance_id} is not registered", id=str(instance_id))
    return _instance(row)


async def listing(
    conn: Any, *, kind: str | None, zone: str | None, health: str | None
) -> list[ServiceInstance]:
    rows = await conn.fetch(
        """SELECT * FROM service_instances
           WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR zone = $2)
             AND ($3::text IS NULL OR health = $3)
           ORDER BY kind, name""",
        kind,
        zone,
        health,
    )
    return [_instance(r) for r in rows]


async def lapse(conn: Any) -> int:
    """TTL instances whose heartbeats stopped: critical now. How many turned."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT id, health AS old FROM service_instances
               WHERE check_kind = 'ttl' AND health <> 'critical'
                 AND last_seen_at + ttl_s * interval '1 second' < clock_timestamp()
               FOR UPDATE)
           UPDATE service_instances s
           SET health = 'critical', critical_since = clock_timestamp(),
               health_detail = 'no heartbeat within its TTL', updated_at = clock_timestamp()
           FROM due WHERE s.id = due.id
           RETURNING s.*, due.old"""
    )
    for r in rows:
        await _health_event(conn, r, r["old"], "critical", r["health_detail"])
    return len(rows)


async def checked(conn: Any, instance_id: UUID, health: str, detail: str | None) -> None:
    """The directory's HTTP/TCP check result for an instance."""
    old = await conn.fetchrow(
        "SELECT health FROM service_instances WHERE id = $1 FOR UPDATE", instance_id
    )
    if old is None or old["health"] == health:
        if old is not None:
            await conn.execute(
                """UPDATE service_instances SET last_seen_at = CASE WHEN $2 = 'passing'
                       THEN clock_timestamp() ELSE last_seen_at END, health_detail = $3,
                       checked_at = clock_timestamp()
                   WHERE id = $1""",
                instance_id,
                health,
                detail,
            )
        return
    row = await conn.fetchrow(
        """UPDATE service_instances
           SET health = $2, health_detail = $3, updated_at = clock_timestamp(),
               checked_at = clock_timestamp(),
               critical_since = CASE WHEN $2 = 'critical' THEN clock_timestamp() END,
               last_seen_at = CASE WHEN $2 = 'passing' THEN clock_timestamp()
                                   ELSE last_seen_at END
           WHERE id = $1 RETURNING *""",
        instance_id,
        health,
        detail,
    )
    await _health_event(conn, row, old["health"], health, detail)


async def to_check(conn: Any) -> list[ServiceInstance]:
    """The HTTP/TCP-checked instances due: each every third of its TTL (at least 1 s)."""
    rows = await conn.fetch(
        """SELECT * FROM service_instances
           WHERE check_kind <> 'ttl'
             AND (checked_at IS NULL OR checked_at
                  + greatest(ttl_s / 3.0, 1) * interval '1 second' <= clock_timestamp())
           ORDER BY checked_at NULLS FIRST"""
    )
    return [_instance(r) for r in rows]


async def withdraw(conn: Any, name: str, reason: str) -> bool:
    """Deregister the instance of that name, if it is there (False: it was not, or the
    keeper removed it meanwhile)."""
    row = await conn.fetchrow("SELECT id FROM service_instances WHERE name = $1", name)
    if row is None:
        return False
    try:
        await deregister(conn, row["id"], reason)
    except NotFound:
        return False
    return True


async def endpoints(conn: Any, kind: str, zone: str | None = None) -> list[Endpoint]:
    """Discovery: the endpoints of the kind's instances that are not critical, passing
    ones first (in the zone, when one is asked for)."""
    found = await listing(conn, kind=kind, zone=zone, health=None)
    ranked = sorted(
        (i for i in found if i.health != "critical"), key=lambda i: i.health != "passing"
    )
    return [e for i in ranked for e in i.endpoints]


async def expire(conn: Any) -> int:
    """Remove instances critical for longer than their ``deregister_after_s``."""
    rows = await conn.fetch(
        """DELETE FROM service_instances
           WHERE health = 'critical'
             AND critical_since + deregister_after_s * interval '1 second' < clock_timestamp()
           RETURNING *"""
    )
    for r in rows:
        await events.append(
            conn,
            "strato.service.deregistered",
            "service",
            r["id"],
            old_state="critical",
            payload={
                "name": r["name"],
                "kind": r["kind"],
                "reason": f"critical for more than {r['deregister_after_s']}s",
            },
        )
    return len(rows)
