"""Maintenance mode: prepare (the HostMaintenance operation) and cancel (at once)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.fabric.maintenance import HOST_MAINTENANCE, MaintenanceInput
from strato.domain.fabric.models import Host
from strato.schema import repository
from strato.schema.fabric import maintenance
from strato.schema.operations import OperationRecord
from strato.schema.tables import HOSTS


async def prepare(ctx: CommandContext, host_id: UUID, idempotency_key: str | None) -> Accepted:
    """PrepareForMaintenance (planners skip the host at once) and the operation that
    moves its VMs off; 409 naming the VMs an operation holds."""
    await ctx.authorize(Action("host.maintenance", "host", host_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        host = await maintenance.prepare(conn, host_id)
        op_id = uuid4()
        return await intake.record(
            conn,
            operation_id=op_id,
            resource_type="host",
            resource_id=host_id,
            verb="maintenance",
            workflow_type=HOST_MAINTENANCE.name,
            input=MaintenanceInput(host_id=host_id, host_name=host["name"], operation_id=op_id),
            attributes={"StratoZone": str(host["zone_id"]), "StratoHost": host["name"]},
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"host": str(host_id), "verb": "maintenance"},
        build=build,
        resource=HOSTS,
    )


async def cancel(ctx: CommandContext, host_id: UUID) -> Host:
    """Enabled again: planners may choose it. A prepare still moving VMs ends without
    setting Maintenance (the VMs it moved stay where they went)."""
    await ctx.authorize(Action("host.cancel_maintenance", "host", host_id))
    async with ctx.db.tx() as conn:
        await maintenance.cancel(conn, host_id)
        host: Host = await repository.get(conn, HOSTS, host_id)
    return host
