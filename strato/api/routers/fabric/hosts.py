"""Zones, pods, clusters, storage pools (CRUD) and hosts (added through a workflow)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Response, status

from strato.api.crud import crud_router
from strato.api.deps import CommandsDep
from strato.api.schemas.fabric import hosts as s
from strato.commands import fabric as commands
from strato.commands import maintenance
from strato.commands.view import Accepted
from strato.domain import paths
from strato.domain.errors import InvalidInput, NotFound
from strato.domain.fabric.models import Cluster, Host, Pod
from strato.schema import repository
from strato.schema.tables import CLUSTERS, HOSTS, PODS, STORAGE_POOLS, ZONES
from strato.settings import Settings


async def _parent(conn: Any, spec: Any, id: UUID, field: str) -> Any:
    """A referenced parent, or 422 naming the field (it is the body that is wrong)."""
    try:
        return await repository.get(conn, spec, id)
    except NotFound as err:
        raise InvalidInput(f"{field}: {err.detail}", field=field) from err


async def _prepare_cluster(conn: Any, body: s.ClusterCreate) -> dict[str, Any]:
    pod: Pod = await _parent(conn, PODS, body.pod_id, "pod_id")
    return {**body.model_dump(), "zone_id": pod.zone_id}


async def _prepare_pool(conn: Any, body: s.StoragePoolCreate) -> dict[str, Any]:
    values = body.model_dump()
    if body.scope == "cluster":
        if body.cluster_id is None:
            raise InvalidInput("cluster_id: required for a cluster-scoped pool", field="cluster_id")
        cluster: Cluster = await _parent(conn, CLUSTERS, body.cluster_id, "cluster_id")
        if body.zone_id is not None and body.zone_id != cluster.zone_id:
            raise InvalidInput("zone_id: the cluster is in another zone", field="zone_id")
        values.update(zone_id=cluster.zone_id, pod_id=cluster.pod_id)
    else:
        if body.zone_id is None:
            raise InvalidInput("zone_id: required for a zone-wide pool", field="zone_id")
        if body.cluster_id is not None:
            raise InvalidInput("cluster_id: a zone-wide pool has no cluster", field="cluster_id")
        await _parent(conn, ZONES, body.zone_id, "zone_id")
    return values


def _pool_path(body: s.StoragePoolCreate, settings: Settings) -> None:
    """A file pool's directory must lie under the pool roots."""
    path = paths.local_path(body.url) if body.driver == "qcow2" else None
    if path is None:
        return
    try:
        paths.within(path, settings.pool_root_list, "pool directory", "STRATO_POOL_ROOTS")
    except paths.PathRefused as err:
        raise InvalidInput(f"url: {err}", field="url") from err


router = APIRouter()
router.include_router(
    crud_router(
        ZONES, path="/zones", filters=s.ZoneFilter, create=s.ZoneCreate, update=s.ZoneUpdate
    )
)
router.include_router(
    crud_router(PODS, path="/pods", filters=s.PodFilter, create=s.PodCreate, update=s.PodUpdate)
)
router.include_router(
    crud_router(
        CLUSTERS,
        path="/clusters",
        filters=s.ClusterFilter,
        create=s.ClusterCreate,
        update=s.ClusterUpdate,
        prepare=_prepare_cluster,
    )
)
router.include_router(
    crud_router(
        STORAGE_POOLS,
        path="/storage-pools",
        filters=s.StoragePoolFilter,
        create=s.StoragePoolCreate,
        update=s.StoragePoolUpdate,
        prepare=_prepare_pool,
        check=_pool_path,
    )
)


@router.post(
    "/hosts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["hosts"],
    summary="Add a host (starts the AddHost workflow)",
)
async def add_host(
    body: s.HostCreate,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Accepted:
    accepted = await commands.add_host(ctx, body, idempotency_key)
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


@router.post(
    "/hosts/{id}/maintenance",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["hosts"],
    summary="Prepare a host for maintenance: move its VMs off (HostMaintenance workflow)",
)
async def prepare_maintenance(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Accepted:
    accepted = await maintenance.prepare(ctx, id, idempotency_key)
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


@router.post(
    "/hosts/{id}/cancel-maintenance",
    response_model=Host,
    tags=["hosts"],
    summary="Take a host out of maintenance (Enabled: planners may choose it again)",
)
async def cancel_maintenance(id: UUID, ctx: CommandsDep) -> Host:
    return await maintenance.cancel(ctx, id)


router.include_router(
    crud_router(HOSTS, path="/hosts", filters=s.HostFilter, create=None, update=s.HostUpdate)
)
