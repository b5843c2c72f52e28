"""kill -9 of the orchestrator (which runs the reconcilers and their steps) during a
managed service's scale-out and during its rollout: both finish with exactly the
instances asked for, and no VM left over."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx

from strato.schema.db import Database
from strato.settings import Settings
from tests.conftest import Platform
from tests.helpers import ok, unique
from tests.workflows.test_managed_services import definition, listed, settled, until
from tests.workflows.test_vm_crash import agents_only, worker_process

__all__ = ["agents_only"]  # the fixture, used below


async def _count(db: Database, svc_id: str, type: str) -> int:
    """How many events of this type the service has (numbered or not yet)."""
    async with db.conn() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE resource_id = $1 AND type = $2",
            uuid.UUID(svc_id),
            f"strato.managed_service.{type}",
        )
    return n


async def _more(db: Database, svc_id: str, type: str, than: int) -> bool:
    return await _count(db, svc_id, type) > than


async def _live_vms(db: Database, name: str) -> list[dict[str, Any]]:
    async with db.conn() as conn:
        rows = await conn.fetch(
            "SELECT id, state, template_id FROM vms WHERE owner = $1 AND state <> 'Expunged'",
            f"service:{name}",
        )
    return [dict(r) for r in rows]


async def test_scale_out_and_rollout_finish_exactly_after_orchestrator_kill9s(
    api: httpx.AsyncClient,
    agents_only: Platform,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    worker = worker_process(settings, tmp_path / "worker.log")
    worker.start()
    try:
        fab = await vm_zone_slow(api, agents_only)
        body = definition(fab, desired=2, min_instances=1)
        svc = await ok(await api.post("/managed-services", json=body), 201)
        await settled(api, svc["id"], 2)

        # Scale out to 5; kill the orchestrator once the first new instance is added.
        mark = await _count(db, svc["id"], "instance_added")
        await ok(await api.post(f"/managed-services/{svc['id']}/scale", json={"desired": 5}))
        await until("a deploy under way", lambda: _more(db, svc["id"], "instance_added", mark))
        worker.kill9()
        await asyncio.sleep(1.0)
        worker.start()
        await settled(api, svc["id"], 5)
        assert len(await _live_vms(db, body["name"])) == 5
        await until("5 listed", lambda: _n_listed(api, body["name"], 5))

        # Roll out; kill it once the first old instance is retired.
        template = await ok(
            await api.post("/templates", json={"name": unique("tpl2"), "size_bytes": 1 << 30}),
            201,
        )
        mark = await _count(db, svc["id"], "instance_retired")
        await ok(
            await api.post(
                f"/managed-services/{svc['id']}/rollout",
                json={"release": "2.0", "template_id": template["id"]},
            )
        )
        await until("a retirement", lambda: _more(db, svc["id"], "instance_retired", mark))
        worker.kill9()
        await asyncio.sleep(1.0)
        worker.start()
        await settled(api, svc["id"], 5, "2.0")
        await until("5 listed", lambda: _n_listed(api, body["name"], 5))
        live = await _live_vms(db, body["name"])
        assert len(live) == 5 and {v["template_id"] for v in live} == {uuid.UUID(template["id"])}
        # (recorded by the round's last step, just after the round that saw them serve)
        await until("rollout_finished", lambda: _more(db, svc["id"], "rollout_finished", 0))
        assert await _count(db, svc["id"], "rollout_finished") == 1
    finally:
        worker.stop()


async def _n_listed(api: httpx.AsyncClient, kind: str, n: int) -> bool:
    return len([e for e in await listed(api, kind) if e["health"] == "passing"]) == n


async def vm_zone_slow(api: httpx.AsyncClient, platform: Platform) -> dict[str, Any]:
    """The zone, with every host step taking 0.3 s (a wider window for the kills)."""
    from tests.workflows.vm_helpers import vm_zone

    fab = await vm_zone(api, hosts=2)
    platform.fleet.faults.latency_ms = 300
    return fab
