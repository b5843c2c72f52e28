"""Operations on a guest network once it is on hosts: restart (CloudStack's restartNetwork,
optionally with cleanup), shut down, delete; and the ApplyNetwork operation every change
to a network's rules or public addresses records, in the change's own transaction, so
the router follows the database (never a delta: the whole router each time).

Refused here with nothing changed: deleting a network with NICs (its VMs' addresses),
shutting down one whose VMs run, any of these on a network being deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import BaseModel
from temporalio.client import Client

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.operations import request_hash, start
from strato.commands.view import Accepted
from strato.domain.errors import Conflict, Forbidden, InUse, InvalidInput, NotFound
from strato.domain.fields import Request
from strato.domain.network import flows
from strato.domain.network.models import Network, NetworkOffering, PhysicalNetwork
from strato.domain.network.payloads import NetworkOpInput
from strato.domain.network.specs import DesignRequest
from strato.domain.steps import Flow
from strato.drivers.network.guru import guru_for
from strato.schema import repository, request_keys
from strato.schema.db import Database
from strato.schema.network import ipam, lifecycle
from strato.schema.network.ipam import NETWORK_OFFERINGS
from strato.schema.network.physical import PHYSICAL_NETWORKS
from strato.schema.network.plans import lock
from strato.schema.operations import OperationRecord

T = TypeVar("T")


async def _offering_fits(conn: Any, body: Any) -> str | None:
    """The offering (Enabled, of the network's guest type) and the physical network (of
    the zone, carrying guest traffic) the body names exist and fit."""
    if body.offering_id is not None:
        try:
            off: NetworkOffering = await repository.get(conn, NETWORK_OFFERINGS, body.offering_id)
        except NotFound as err:
            raise InvalidInput(f"offering_id: {err.detail}", field="offering_id") from err
        if off.state != "Enabled" or off.guest_type.lower() != body.kind:
            raise InvalidInput(
                f"offering_id: {off.name} is a {off.state} {off.guest_type} offering, "
                f"not an Enabled one for a {body.kind} network",
                field="offering_id",
            )
    if body.physical_network_id is not None:
        try:
            pn: PhysicalNetwork = await repository.get(
                conn, PHYSICAL_NETWORKS, body.physical_network_id
            )
        except NotFound as err:
            raise InvalidInput(
                f"physical_network_id: {err.detail}", field="physical_network_id"
            ) from err
        if pn.zone_id != body.zone_id or "guest" not in pn.traffic_types:
            raise InvalidInput(
                f"physical_network_id: {pn.name} carries no guest traffic of this zone",
                field="physical_network_id",
            )
        return pn.isolation
    return None


def _prefix(cidr: str) -> int:
    try:
        return ip_network(cidr, strict=False).prefixlen
    except ValueError:
        return 32  # the guru says what is wrong with it


async def create(ctx: CommandContext, body: Any) -> Network:
    """A guest network, designed by its guru (the physical network's isolation: flat,
    VLAN or VXLAN), its addresses one row each; Allocated (isolated) or Implemented."""
    await ctx.authorize(Action("network.create", "network"))
    values = body.model_dump()
    if ctx.caller.owners is not None and body.kind != "isolated":
        # A shared network is every account's (and may be a zone's default): the cloud's.
        raise Forbidden(f"{ctx.caller.name} may make isolated networks only, not {body.kind}")
    if values.get("owner") or ctx.caller.owners is not None:
        values["owner"] = ctx.caller.owner_for(values.get("owner")) or None
    if body.kind == "isolated":
        values["is_default"] = False  # a zone's default network is a shared one
    # An ordinary network of its kind: the kind's default offering unless it names one.
    values["offering_id"] = body.offering_id or DEFAULT_OFFERINGS[body.kind]
    tenant = ctx.caller.owners is not None
    if tenant and body.cidr and _prefix(body.cidr) < 16:
        raise InvalidInput("cidr: an account's network is at most a /16", field="cidr")
    async with ctx.db.tx() as conn:
        if tenant and body.physical_network_id is None:
            # An account's isolated network goes on the zone's guest physical network (a
            # VLAN or VXLAN of its own), never flat beside the others.
            pn = await ipam.guest_physical_network(conn, body.zone_id)
            if pn is None:
                raise Conflict("the zone has no guest physical network for isolated networks")
            body = body.model_copy(update={"physical_network_id": pn})
            values["physical_network_id"] = pn
        isolation = await _offering_fits(conn, body)
        design = guru_for(isolation).design(DesignRequest(**values))
        try:
            net = await ipam.create_network(conn, values, design)
        except Conflict as err:
            if tenant and "overlaps" in err.detail:  # not another account's name and range
                raise Conflict(f"cidr: {design.cidr} overlaps another network of the zone") from err
            raise
        if net.owner:
            await ctx.take(conn, net.owner, "network")
        return net


# The seeded CloudStack defaults (migration 0022).
DEFAULT_OFFERINGS = {
    "isolated": UUID("00000000-0000-4000-8000-00000000a001"),
    "shared": UUID("00000000-0000-4000-8000-00000000a002"),
}


class NetworkRestart(Request):
    cleanup: bool = False


async def _record(
    conn: Any, intake: Intake, net: dict[str, Any], verb: str, flow: Flow[Any, Any], **kw: Any
) -> OperationRecord:
    op_id = uuid4()
    return await intake.record(
        conn,
        operation_id=op_id,
        resource_type="network",
        resource_id=net["id"],
        verb=verb,
        workflow_type=flow.name,
        input=NetworkOpInput(network_id=net["id"], operation_id=op_id, **kw),
        attributes={"StratoZone": str(net["zone_id"]), "StratoOwner": net["owner"] or ""},
    )


@dataclass(frozen=True)
class Once:
    """A change's Idempotency-Key, the request it stands for, and the model of its
    answer (given again, as it was, when the key comes back with the same request)."""

    key: str
    body: Any
    model: type[BaseModel]


async def changed(
    ctx: CommandContext,
    network_of: Callable[[Any], Awaitable[UUID | None]],
    change: Callable[[Any], Awaitable[T]],
    once: Once | None = None,
) -> tuple[T, UUID | None]:
    """Run ``change(conn)`` and, when it touched an implemented network
    (``network_of(conn)`` after it), record an ApplyNetwork operation in the same
    transaction and start it after commit. Returns the change's result and the
    operation's id (None: nothing on any host to change yet). With ``once``, a key seen
    before answers what it answered then and changes nothing (409 for another request)."""
    intake = Intake(None, None, ctx.settings.orchestration_queue)
    op: OperationRecord | None = None
    async with ctx.db.tx() as conn:
        if once is not None:
            seen = await request_keys.claim(conn, once.key)
            if seen is not None:
                if seen.request_hash != request_hash(once.body):
                    raise Conflict("Idempotency-Key was already used for a different request")
                return cast(T, once.model.model_validate(seen.result)), seen.operation_id
        result = await change(conn)
        network_id = await network_of(conn)
        if network_id is not None:
            net = await lock(conn, network_id)
            if net["state"] == "Implemented":
                op = await _record(conn, intake, net, "apply", flows.APPLY_NETWORK)
        if once is not None and isinstance(result, BaseModel):
            answer = result.model_dump(mode="json")
            await request_keys.keep(
                conn, once.key, request_hash(once.body), answer, op.id if op else None
            )
    if op is None:
        return result, None
    await start(ctx.db, ctx.temporal, op, fresh=True)
    return result, op.id


async def operate(
    ctx: CommandContext,
    network_id: UUID,
    verb: str,
    flow: Flow[Any, Any],
    idempotency_key: str | None,
    check: Callable[[Any, dict[str, Any]], Awaitable[None]] | None = None,
    **kw: Any,
) -> Accepted:
    await ctx.authorize(Action(f"network.{verb}", "network", network_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        net = await lock(conn, network_id)
        if net["state"] == "Destroy" and verb != "delete":
            raise Conflict(f"network {net['name']} is being deleted")
        if check is not None:
            await check(conn, net)
        return await _record(conn, intake, net, verb, flow, **kw)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"verb": verb, "network": str(network_id), **kw},
        build=build,
        resource=ipam.NETWORKS,
    )


async def restart(
    ctx: CommandContext, network_id: UUID, body: NetworkRestart, idempotency_key: str | None
) -> Accepted:
    return await operate(
        ctx, network_id, "restart", flows.RESTART_NETWORK, idempotency_key, cleanup=body.cleanup
    )


async def _idle(conn: Any, net: dict[str, Any]) -> None:
    running = await lifecycle.plugged(conn, net["id"])
    if running:
        raise Conflict(f"network {net['name']} has {running} plugged NIC(s): stop its VMs first")
    if net["state"] != "Implemented":
        raise Conflict(f"network {net['name']} is {net['state']}: nothing to shut down")


async def shutdown(ctx: CommandContext, network_id: UUID, idempotency_key: str | None) -> Accepted:
    return await operate(
        ctx, network_id, "shutdown", flows.SHUTDOWN_NETWORK, idempotency_key, check=_idle
    )


async def _no_nics(conn: Any, net: dict[str, Any]) -> None:
    nics = await lifecycle.nic_count(conn, net["id"])
    if nics:
        raise InUse(f"network {net['name']} has {nics} NIC(s): expunge its VMs first")


async def _deletable(conn: Any, net: dict[str, Any]) -> None:
    await _no_nics(conn, net)
    await lifecycle.mark_destroy(conn, net["id"])


async def delete(
    ctx: CommandContext, network_id: UUID, idempotency_key: str | None
) -> Accepted | None:
    """A network never on a host goes at once (None); one that is (or may be: a delete
    that failed half way) is removed from its hosts by a DeleteNetwork operation."""
    await ctx.authorize(Action("network.delete", "network", network_id))
    async with ctx.db.tx() as conn:
        net = await lock(conn, network_id)
        on_hosts = net["segment"] is not None or net["router_host_id"] is not None
        if not on_hosts and net["state"] != "Destroy":
            await _no_nics(conn, net)
            await lifecycle.destroy_rows(conn, network_id)
            return None
    return await operate(
        ctx, network_id, "delete", flows.DELETE_NETWORK, idempotency_key, check=_deletable
    )


async def shutdown_idle(db: Database, client: Client, idle_s: float, queue: str) -> int:
    """The orchestrator's sweep: every network idle for ``idle_s`` gets a ShutdownNetwork
    operation (recorded with its check, under the network's lock). Returns how many."""
    async with db.conn() as conn:
        candidates = await lifecycle.idle(conn, idle_s)
    intake = Intake(None, None, queue)
    begun = 0
    for network_id in candidates:
        async with db.tx() as conn:
            net = await lock(conn, network_id)
            if network_id not in await lifecycle.idle(conn, idle_s) or await lifecycle.plugged(
                conn, network_id
            ):
                continue
            op = await _record(conn, intake, net, "shutdown", flows.SHUTDOWN_NETWORK)
        await start(db, client, op, fresh=True)
        begun += 1
    return begun
