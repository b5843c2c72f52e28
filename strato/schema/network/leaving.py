"""A VM leaving its hosts' networks: its ports unplugged (stop), its leases and rules
off the routers (expunge); hosts left with no port of a network lose it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.network.payloads import HostNetworks, PortsPlan, UnplugInput
from strato.schema.network import port_security
from strato.schema.network.plans import (
    bump,
    host_names,
    lock,
    managed_networks,
    network_specs,
    port_hosts,
    router_spec,
    spec_of,
)


async def vm_leaves(
    conn: Any, vm_id: UUID, op: UUID | None, *, expunging: bool = False
) -> PortsPlan:
    """A VM stops (or is expunged): its plugged ports come off their host; a host left
    with no port of a network (and not its router's) has the network removed, the
    others' tunnels to it too. ``expunging``: its leases and rules leave the routers."""
    plan = PortsPlan()
    for network_id in await managed_networks(conn, vm_id):
        net = await lock(conn, network_id)
        rows = await conn.fetch(
            """SELECT n.mac, h.name AS host, n.host_id FROM nics n
               LEFT JOIN hosts h ON h.id = n.host_id
               WHERE n.vm_id = $1 AND n.network_id = $2""",
            vm_id,
            network_id,
        )
        before = await port_hosts(conn, net)
        await conn.execute(
            "UPDATE nics SET host_id = NULL WHERE vm_id = $1 AND network_id = $2",
            vm_id,
            network_id,
        )
        await bump(conn, net)
        for r in rows:
            if r["host"] is not None:
                plan.host = r["host"]
                plan.unplug.ports.append(UnplugInput(network=net["name_key"], mac=r["mac"]))
        await conn.execute(
            """UPDATE networks SET idle_since = clock_timestamp()
               WHERE id = $1 AND idle_since IS NULL AND NOT EXISTS
                     (SELECT 1 FROM nics WHERE network_id = $1 AND host_id IS NOT NULL)""",
            network_id,
        )
        gone = before - await port_hosts(conn, net)
        if gone:
            names = await host_names(conn, gone)
            plan.shutdown.extend(
                HostNetworks(host=n, networks=[spec_of(net, [])]) for n, _ip in names.values()
            )
            if net["isolation"] == "VXLAN":
                plan.peers.extend(
                    HostNetworks(host=h, networks=[s])
                    for h, s in (await network_specs(conn, net)).items()
                )
        if expunging:
            router = await router_spec(conn, net, leaving_vm=vm_id)
            if router is not None:
                plan.routers.append(router)
    if expunging:
        await port_security.resecure_others(conn, plan, vm_id, leaving=True)
    return plan
