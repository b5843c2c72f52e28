"""Affinity groups (CRUD) and guest networks with their address ranges."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Response, status
from fastapi.responses import JSONResponse

from strato.api.accepted import ACCEPTED, located, operation_header
from strato.api.crud import crud_router, list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import Filter, ListPage
from strato.api.schemas.compute import vms as s
from strato.commands import guest_networks
from strato.commands import network as network_commands
from strato.commands.view import Accepted
from strato.domain.network.models import EgressRule, Nic
from strato.schema import repository
from strato.schema.compute.vms import AFFINITY_GROUPS, VMS
from strato.schema.network import ipam, rules
from strato.schema.network.ipam import NETWORK_OFFERINGS

router = APIRouter()
router.include_router(
    crud_router(
        AFFINITY_GROUPS,
        path="/affinity-groups",
        filters=s.AffinityGroupFilter,
        create=s.AffinityGroupCreate,
        update=s.AffinityGroupUpdate,
    )
)

net = APIRouter(prefix="/networks", tags=["networks"])


class EgressFilter(Filter):
    network_id: UUID | None = None


async def _view(conn: Any, network_id: UUID) -> s.NetworkView:
    n = await ipam.get_network(conn, network_id)
    return s.NetworkView(**n.model_dump(), free_addresses=await ipam.free_count(conn, n.id))


@net.post(
    "",
    response_model=s.NetworkView,
    status_code=status.HTTP_201_CREATED,
    summary="Create a shared guest network with an address range",
)
async def create_network(body: s.NetworkCreate, ctx: CommandsDep, response: Response) -> Any:
    created = await guest_networks.create(ctx, body)
    async with ctx.db.conn() as conn:
        view = await _view(conn, created.id)
    response.headers["Location"] = f"/api/v1/networks/{view.id}"
    return view


@net.get("", response_model=list[s.NetworkView], summary="List networks")
async def list_networks(db: DbDep, _: CallerDep, zone_id: UUID | None = None) -> Any:
    async with db.conn() as conn:
        return [await _view(conn, n.id) for n in await ipam.list_networks(conn, zone_id)]


@net.get("/{id}", response_model=s.NetworkView, summary="A network")
async def get_network(id: UUID, db: DbDep, _: CallerDep) -> s.NetworkView:
    async with db.conn() as conn:
        return await _view(conn, id)


@net.delete(
    "/{id}",
    response_model=None,
    responses={
        204: {"description": "deleted (it was never on a host)"},
        202: {"model": Accepted, "description": "being removed from its hosts first"},
    },
    summary="Delete a network",
)
async def delete_network(id: UUID, ctx: CommandsDep, idempotency_key: IdemKey = None) -> Response:
    accepted = await guest_networks.delete(ctx, id, idempotency_key)
    if accepted is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/api/v1/operations/{accepted.operation.id}"},
    )


@net.get(
    "/{id}/egress-rules",
    response_model=ListPage[EgressRule],
    summary="A network's egress firewall rules",
)
async def list_egress(id: UUID, db: DbDep, _: CallerDep) -> Any:
    return await list_response(db, rules.EGRESS, EgressFilter(network_id=id))


@net.post(
    "/{id}/egress-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=EgressRule,
    summary="An exception to a network's egress default (applied by an operation)",
)
async def add_egress(
    id: UUID, body: network_commands.EgressRuleCreate, ctx: CommandsDep, response: Response
) -> Any:
    rule, op = await network_commands.add_egress_rule(ctx, id, body)
    response.headers.update(operation_header(op))
    return rule


@router.delete(
    "/egress-rules/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an egress rule"
)
async def delete_egress(id: UUID, ctx: CommandsDep) -> Response:
    op = await network_commands.delete_egress_rule(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=operation_header(op))


@router.get(
    "/vms/{id}/nics",
    response_model=list[Nic],
    tags=["networks"],
    summary="A VM's NICs (network, MAC, address, device)",
)
async def vm_nics(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        await repository.get(conn, VMS, id)  # another owner's VM: a 404
        return await ipam.nics_of(conn, id)


@net.post(
    "/{id}/restart",
    summary="Rebuild a network's hosts' part and router from the database (restartNetwork)",
    **ACCEPTED,
)
async def restart_network(
    id: UUID,
    ctx: CommandsDep,
    response: Response,
    body: Annotated[guest_networks.NetworkRestart | None, Body()] = None,
    idempotency_key: IdemKey = None,
) -> Accepted:
    body = body or guest_networks.NetworkRestart()
    return located(response, await guest_networks.restart(ctx, id, body, idempotency_key))


@net.post(
    "/{id}/shutdown",
    summary="Release an idle network's router and segment (no VM of it runs)",
    **ACCEPTED,
)
async def shutdown_network(
    id: UUID, ctx: CommandsDep, response: Response, idempotency_key: IdemKey = None
) -> Accepted:
    return located(response, await guest_networks.shutdown(ctx, id, idempotency_key))


router.include_router(
    crud_router(
        NETWORK_OFFERINGS,
        path="/network-offerings",
        filters=s.NetworkOfferingFilter,
        create=s.NetworkOfferingCreate,
        update=s.NetworkOfferingUpdate,
    )
)
router.include_router(net)
