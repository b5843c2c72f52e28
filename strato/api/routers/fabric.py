"""Zones, pods, clusters, storage pools (CRUD) and hosts (added through a workflow)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Response, status

from strato import operations
from strato.api.accept import Accepted, accept, respond
from strato.api.crud import crud_router
from strato.api.deps import CallerDep, DbDep, SettingsDep, TemporalDep
from strato.api.schemas import fabric as s
from strato.domain.errors import InvalidInput, NotFound
from strato.domain.ids import Workflows, workflow_id
from strato.domain.models import Cluster, Pod
from strato.domain.payloads import AddHostInput
from strato.domain.states import HostStatus
from strato.schema import repository
from strato.schema.operations import OperationRecord
from strato.schema.tables import CLUSTERS, HOSTS, PODS, STORAGE_POOLS, ZONES


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
    db: DbDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _: CallerDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    host_id = uuid4()

    async def build(conn: Any) -> OperationRecord:
        cluster: Cluster = await _parent(conn, CLUSTERS, body.cluster_id, "cluster_id")
        host = await repository.insert(
            conn,
            HOSTS,
            {
                **body.model_dump(),
                "id": host_id,
                "zone_id": cluster.zone_id,
                "pod_id": cluster.pod_id,
                "hypervisor": cluster.hypervisor,
                "status": HostStatus.CREATING.value,
            },
        )
        op_id = uuid4()
        return await operations.record(
            conn,
            id=op_id,
            kind="host.add",
            resource_type="host",
            resource_id=host.id,
            workflow_id=workflow_id("host", "add", host.id, op_id),
            workflow_type=Workflows.ADD_HOST,
            input=AddHostInput(
                host_id=host.id,
                host_name=host.name,
                zone_id=host.zone_id,
                operation_id=op_id,
                connect_timeout_s=settings.host_connect_timeout_s,
            ),
            search_attributes={
                "StratoResourceType": "host",
                "StratoResourceId": str(host.id),
                "StratoOperation": "add",
                "StratoZone": str(host.zone_id),
                "StratoHost": host.name,
            },
            task_queue=settings.orchestration_queue,
            idempotency_key=idempotency_key,
            request_body=body.model_dump(mode="json"),
        )

    record, created = await accept(
        db,
        temporal,
        idempotency_key=idempotency_key,
        body=body.model_dump(mode="json"),
        build=build,
    )
    async with db.conn() as conn:
        host = await repository.get(conn, HOSTS, record.resource_id) if record.resource_id else None
    response.headers["Location"] = f"/api/v1/operations/{record.id}"
    return await respond(temporal, settings, record, host, created=created)


router.include_router(
    crud_router(HOSTS, path="/hosts", filters=s.HostFilter, create=None, update=s.HostUpdate)
)
