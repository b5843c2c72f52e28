"""Snapshots: take one of a volume, list and detail, revert a volume to one, delete one
(each operation accepted by :mod:`strato.commands.snapshots`); recurring snapshot
policies (:mod:`strato.commands.policies`).

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status

from strato.api.accepted import ACCEPTED, located
from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey, SettingsDep
from strato.api.routers.storage.templates import host_paths
from strato.api.schemas.common import ListPage
from strato.api.schemas.storage import volumes as s
from strato.commands import policies as policy_commands
from strato.commands import snapshot_exports as exports
from strato.commands import snapshots as commands
from strato.commands.view import Accepted
from strato.domain.storage.models import Snapshot, SnapshotPolicy
from strato.schema import repository
from strato.schema.storage.policies import POLICIES
from strato.schema.storage.snapshots import SNAPSHOTS

router = APIRouter(tags=["snapshots"])


@router.post(
    "/volumes/{id}/snapshots", summary="Take a snapshot of a volume (CreateSnapshot)", **ACCEPTED
)
async def take(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    body: Annotated[s.SnapshotCreate | None, Body()] = None,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.create_snapshot(ctx, id, body, idempotency_key))


@router.get("/snapshots", response_model=ListPage[Snapshot], summary="List snapshots")
async def list_snapshots(db: DbDep, _: CallerDep, flt: Annotated[s.SnapshotFilter, Query()]) -> Any:
    return await list_response(db, SNAPSHOTS, flt)


@router.get("/snapshots/{id}", response_model=Snapshot, summary="Get a snapshot")
async def get_snapshot(id: UUID, db: DbDep, _: CallerDep, response: Response) -> Any:
    async with db.conn() as conn:
        snap = await repository.get(conn, SNAPSHOTS, id)
    response.headers["ETag"] = f'"{snap.version}"'
    return snap


@router.post(
    "/snapshots/{id}/revert",
    summary="Revert its volume to a snapshot (RevertSnapshot)",
    **ACCEPTED,
)
async def revert(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.revert_snapshot(ctx, id, idempotency_key))


@router.post(
    "/snapshots/{id}/volumes",
    summary="A new volume from a snapshot, on its pool (CreateVolumeFromSnapshot)",
    **ACCEPTED,
)
async def volume_from(
    id: UUID,
    body: s.VolumeFromSnapshot,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    return located(response, await commands.volume_from_snapshot(ctx, id, body, idempotency_key))


@router.post(
    "/snapshots/{id}/backup",
    summary="Back a snapshot up to the zone's image store (BackupSnapshot)",
    **ACCEPTED,
)
async def backup(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await exports.backup_snapshot(ctx, id, idempotency_key))


@router.post(
    "/snapshots/{id}/templates",
    summary="A new template from a snapshot (CreateTemplateFromSnapshot)",
    **ACCEPTED,
)
async def template_from(
    id: UUID,
    body: s.TemplateFromSnapshot,
    ctx: CommandsDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    host_paths([], body.boot, settings)
    return located(response, await exports.template_from_snapshot(ctx, id, body, idempotency_key))


@router.delete("/snapshots/{id}", summary="Delete a snapshot (DeleteSnapshot)", **ACCEPTED)
async def delete(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await commands.delete_snapshot(ctx, id, idempotency_key))


@router.post(
    "/volumes/{id}/snapshot-policies",
    status_code=status.HTTP_201_CREATED,
    response_model=SnapshotPolicy,
    summary="Snapshot a volume on a schedule, keeping the last N (a Temporal Schedule)",
)
async def create_policy(
    id: UUID, body: s.PolicyCreate, ctx: CommandsDep, response: Response
) -> Any:
    policy = await policy_commands.create_policy(ctx, id, body)
    response.headers["Location"] = f"/api/v1/snapshot-policies/{policy.id}"
    return policy


@router.get("/snapshot-policies", response_model=ListPage[SnapshotPolicy], summary="List policies")
async def list_policies(db: DbDep, _: CallerDep, flt: Annotated[s.PolicyFilter, Query()]) -> Any:
    return await list_response(db, POLICIES, flt)


@router.get(
    "/snapshot-policies/{id}", response_model=SnapshotPolicy, summary="Get a snapshot policy"
)
async def get_policy(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, POLICIES, id)


@router.delete(
    "/snapshot-policies/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a snapshot policy and its schedule (its snapshots stay)",
)
async def delete_policy(id: UUID, ctx: CommandsDep) -> Response:
    await policy_commands.delete_policy(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
