"""Fabric commands: adding a host (the AddHost operation)."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any
from uuid import UUID, uuid4

from pydantic import Field

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.errors import InvalidInput, NotFound
from strato.domain.fabric import flows
from strato.domain.fabric.models import Cluster
from strato.domain.fabric.payloads import AddHostInput
from strato.domain.fields import Int32, Name, Request, Tags, Url
from strato.domain.states import HostStatus
from strato.schema import repository
from strato.schema.operations import OperationRecord
from strato.schema.tables import CLUSTERS, HOSTS


class HostCreate(Request):
    """Add a host to a cluster; an agent on the host answers the connect step."""

    cluster_id: UUID
    name: Name
    url: Url = ""
    tags: Tags = Field(default_factory=list)
    cpu_reserved_mhz: Int32 = 0
    memory_reserved_mb: Int32 = 0
    # Its underlay address (VXLAN tunnels of other hosts end there).
    tunnel_ip: IPv4Address | None = None


async def add_host(ctx: CommandContext, body: HostCreate, idempotency_key: str | None) -> Accepted:
    """A host row (Creating) and the AddHost operation that connects it."""
    await ctx.authorize(Action("host.add", "host"))
    host_id = uuid4()

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        try:
            cluster: Cluster = await repository.get(conn, CLUSTERS, body.cluster_id)
        except NotFound as err:
            raise InvalidInput(f"cluster_id: {err.detail}", field="cluster_id") from err
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
                # A simulated host's agent is the simulator fleet: it answers probes.
                "agent_endpoint": (
                    f"sim://{body.name}" if cluster.hypervisor == "simulator" else None
                ),
                # A simulator fleet with a shared queue serves it there.
                "agent_queue": (
                    ctx.settings.sim_shared_queue or None
                    if cluster.hypervisor == "simulator"
                    else None
                ),
            },
        )
        op_id = uuid4()
        return await intake.record(
            conn,
            operation_id=op_id,
            resource_type="host",
            resource_id=host.id,
            verb="add",
            workflow_type=flows.ADD_HOST.name,
            input=AddHostInput(
                host_id=host.id,
                host_name=host.name,
                zone_id=host.zone_id,
                operation_id=op_id,
                connect_timeout_s=ctx.settings.host_connect_timeout_s,
            ),
            attributes={"StratoZone": str(host.zone_id), "StratoHost": host.name},
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body=body.model_dump(mode="json"),
        build=build,
        resource=HOSTS,
    )
