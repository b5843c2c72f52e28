"""Physical networks (with their vnet ranges), public IP ranges, public IPs acquired and
released, and their rules (port forwarding, firewall, static NAT): recorded here; a
network's router applies them all at once.

No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
"""

from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.accepted import operation_header
from strato.api.crud import crud_router, list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep, IdemKey
from strato.api.schemas.common import Filter, ListPage, Name, Request
from strato.commands import network as commands
from strato.domain.network.models import (
    FirewallRule,
    PortForwardingRule,
    PublicIp,
    PublicIpRange,
)
from strato.schema import repository
from strato.schema.network import rules
from strato.schema.network.physical import PHYSICAL_NETWORKS
from strato.schema.network.public_ips import PUBLIC_IPS, RANGES

T = TypeVar("T")


class PhysicalNetworkFilter(Filter):
    zone_id: UUID | None = None
    name: Name | None = None


class PhysicalNetworkUpdate(Request):
    state: Literal["Enabled", "Disabled"] | None = None


class RangeFilter(Filter):
    zone_id: UUID | None = None
    physical_network_id: UUID | None = None


class RuleFilter(Filter):
    public_ip_id: UUID | None = None


class PublicIpFilter(Filter):
    zone_id: UUID | None = None
    network_id: UUID | None = None
    state: Literal["Free", "Allocated"] | None = None
    owner: str | None = None


router = APIRouter(tags=["physical networks"])
router.include_router(
    crud_router(
        PHYSICAL_NETWORKS,
        path="/physical-networks",
        filters=PhysicalNetworkFilter,
        create=None,
        update=PhysicalNetworkUpdate,
        delete=False,
    )
)
router.include_router(
    crud_router(
        RANGES,
        path="/public-ip-ranges",
        filters=RangeFilter,
        create=None,
        update=Request,
        delete=False,
    )
)


@router.post(
    "/physical-networks",
    status_code=status.HTTP_201_CREATED,
    response_model=commands.PhysicalNetworkView,
    summary="Create a physical network (and its first vnet range)",
)
async def create(body: commands.PhysicalNetworkCreate, ctx: CommandsDep, response: Response) -> Any:
    pn = await commands.create_physical_network(ctx, body)
    response.headers["Location"] = f"/api/v1/physical-networks/{pn.id}"
    return pn


@router.get(
    "/physical-networks/{id}/vnets",
    response_model=commands.PhysicalNetworkView,
    summary="A physical network with its vnet ranges (ids taken per range)",
)
async def vnets(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await commands.view(conn, id)


@router.post(
    "/physical-networks/{id}/vnets",
    response_model=commands.PhysicalNetworkView,
    summary="Add a range of segment ids (VLAN ids or VXLAN VNIs)",
)
async def add_vnets(id: UUID, body: commands.VnetRange, ctx: CommandsDep) -> Any:
    return await commands.add_vnets(ctx, id, body)


@router.delete(
    "/physical-networks/{id}/vnets",
    response_model=commands.PhysicalNetworkView,
    summary="Remove a range of segment ids that no network holds",
)
async def remove_vnets(
    id: UUID, ctx: CommandsDep, rng: Annotated[commands.VnetRange, Query()]
) -> Any:
    return await commands.remove_vnets(ctx, id, rng)


@router.delete(
    "/physical-networks/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a physical network none of whose vnets is held",
)
async def delete(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete_physical_network(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/public-ip-ranges",
    status_code=status.HTTP_201_CREATED,
    response_model=PublicIpRange,
    summary="Add a range of public addresses to a zone",
)
async def create_range(
    body: commands.PublicIpRangeCreate, ctx: CommandsDep, response: Response
) -> Any:
    rng = await commands.create_public_range(ctx, body)
    response.headers["Location"] = f"/api/v1/public-ip-ranges/{rng.id}"
    return rng


@router.delete(
    "/public-ip-ranges/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a public IP range none of whose addresses is allocated",
)
async def delete_range(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete_public_range(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/public-ips", response_model=ListPage[PublicIp], summary="List public IPs")
async def list_ips(db: DbDep, _: CallerDep, flt: Annotated[PublicIpFilter, Query()]) -> Any:
    return await list_response(db, PUBLIC_IPS, flt)


@router.get("/public-ips/{id}", response_model=PublicIp, summary="Get a public IP")
async def get_ip(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, PUBLIC_IPS, id)


def _applying(response: Response, applied: tuple[T, UUID | None]) -> T:
    result, op = applied
    response.headers.update(operation_header(op))
    return result


@router.post(
    "/public-ips",
    status_code=status.HTTP_201_CREATED,
    response_model=PublicIp,
    summary="Acquire a free public IP of a zone (CloudStack's associateIpAddress)",
)
async def acquire(
    body: commands.PublicIpAcquire,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Any:
    ip = _applying(response, await commands.acquire_ip(ctx, body, idempotency_key))
    response.headers["Location"] = f"/api/v1/public-ips/{ip.id}"
    return ip


@router.delete(
    "/public-ips/{id}",
    response_model=PublicIp,
    summary="Release a public IP (CloudStack's disassociateIpAddress)",
)
async def release(id: UUID, ctx: CommandsDep, response: Response) -> Any:
    return _applying(response, await commands.release_ip(ctx, id))


@router.get(
    "/public-ips/{id}/port-forwarding-rules",
    response_model=ListPage[PortForwardingRule],
    summary="A public IP's port forwarding rules",
)
async def list_port_forwards(id: UUID, db: DbDep, _: CallerDep) -> Any:
    return await list_response(db, rules.PORT_FORWARDS, RuleFilter(public_ip_id=id))


@router.post(
    "/public-ips/{id}/port-forwarding-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=PortForwardingRule,
    summary="Forward ports of a public IP to a VM on its network",
)
async def add_port_forward(
    id: UUID,
    body: commands.PortForwardCreate,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Any:
    return _applying(response, await commands.add_port_forward(ctx, id, body, idempotency_key))


@router.delete(
    "/port-forwarding-rules/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a port forwarding rule",
)
async def delete_port_forward(id: UUID, ctx: CommandsDep) -> Response:
    op = await commands.delete_rule(ctx, "port_forwarding_rule", id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=operation_header(op))


@router.get(
    "/public-ips/{id}/firewall-rules",
    response_model=ListPage[FirewallRule],
    summary="A public IP's ingress firewall rules",
)
async def list_firewall(id: UUID, db: DbDep, _: CallerDep) -> Any:
    return await list_response(db, rules.FIREWALL, RuleFilter(public_ip_id=id))


@router.post(
    "/public-ips/{id}/firewall-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=FirewallRule,
    summary="Allow ingress to a public IP",
)
async def add_firewall(
    id: UUID,
    body: commands.FirewallRuleCreate,
    ctx: CommandsDep,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Any:
    return _applying(response, await commands.add_firewall_rule(ctx, id, body, idempotency_key))


@router.delete(
    "/firewall-rules/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a rule"
)
async def delete_firewall(id: UUID, ctx: CommandsDep) -> Response:
    op = await commands.delete_rule(ctx, "firewall_rule", id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=operation_header(op))


@router.post(
    "/public-ips/{id}/static-nat",
    response_model=PublicIp,
    summary="Make a public IP one VM's, both ways (static NAT)",
)
async def enable_static_nat(
    id: UUID, body: commands.StaticNatEnable, ctx: CommandsDep, response: Response
) -> Any:
    return _applying(response, await commands.static_nat(ctx, id, body))


@router.delete("/public-ips/{id}/static-nat", response_model=PublicIp, summary="End static NAT")
async def disable_static_nat(id: UUID, ctx: CommandsDep, response: Response) -> Any:
    return _applying(response, await commands.static_nat(ctx, id, None))
