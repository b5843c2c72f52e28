"""Networks' address pools and NIC allocation (a zone's default shared network)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from strato.domain.errors import AddressesExhausted, Conflict, InvalidInput, NotFound
from strato.domain.network.models import Network, NetworkOffering, Nic
from strato.domain.network.payloads import NicInfo
from strato.domain.network.specs import NetworkDesign, mac_for
from strato.schema import events, repository
from strato.schema.repository import TableSpec

NETWORK_OFFERINGS = TableSpec(
    "network_offerings", "network_offering", NetworkOffering, dependents={"networks": "networks"}
)
NETWORKS = TableSpec(
    "networks",
    "network",
    Network,
    references={
        "zone_id": "zone",
        "offering_id": "network offering",
        "physical_network_id": "physical network",
    },
    dependents={"nics": "NICs", "ip_addresses": "IP addresses"},
    owner="owner",
    shared="kind = 'shared'",  # a zone's shared networks: every account deploys on them
)


def _as_str(value: Any) -> Any:
    return str(value) if value is not None else None


def network_model(row: Any) -> Network:
    data = dict(row)
    for k in ("cidr", "gateway", "ip_start", "ip_end"):
        data[k] = _as_str(data.get(k))
    return Network.model_validate(data)


async def guest_physical_network(conn: Any, zone_id: UUID) -> UUID | None:
    """The zone's first Enabled physical network carrying guest traffic (VLAN or VXLAN
    isolated): where an end user's isolated networks go."""
    found: UUID | None = await conn.fetchval(
        """SELECT id FROM physical_networks
           WHERE zone_id = $1 AND state = 'Enabled' AND 'guest' = ANY(traffic_types)
           ORDER BY created_at, id LIMIT 1""",
        zone_id,
    )
    return found


async def create_network(conn: Any, values: dict[str, Any], design: NetworkDesign) -> Network:
    """Create a network as its guru designed it (subnet, gateway, range:
    :mod:`strato.drivers.network.guru`) and its Free addresses, one row each. Refused: a
    subnet overlapping another network of the zone (checked with the zone locked, so two
    concurrent creates cannot both pass)."""
    cidr, start, count = design.cidr, design.ip_start, design.count
    await conn.execute("SELECT 1 FROM zones WHERE id = $1 FOR UPDATE", values["zone_id"])
    clash = await conn.fetchrow(
        """SELECT name, cidr FROM networks
           WHERE zone_id = $1 AND cidr && $2::cidr AND state <> 'Destroy'""",
        values["zone_id"],
        cidr,
    )
    if clash is not None:
        raise Conflict(
            f"cidr: {cidr} overlaps network {clash['name']} ({clash['cidr']}) of the zone"
        )
    row = {
        **values,
        "cidr": cidr,
        "gateway": design.gateway,
        "ip_start": start,
        "ip_end": design.ip_end,
        "state": "Implemented" if values.get("kind", "shared") == "shared" else "Allocated",
    }
    net = await repository.insert(conn, NETWORKS, row)
    await conn.execute(
        """INSERT INTO ip_addresses (id, network_id, address)
           SELECT gen_random_uuid(), $1, $2::inet + g FROM generate_series(0, $3 - 1) g""",
        net.id,
        start,
        count,
    )
    return net


async def get_network(conn: Any, id: UUID) -> Network:
    await repository.get(conn, NETWORKS, id)  # raises NotFound
    return network_model(await conn.fetchrow("SELECT * FROM networks WHERE id = $1", id))


async def list_networks(conn: Any, zone_id: UUID | None) -> list[Network]:
    """The networks (of one zone), as far as the current request sees them."""
    args: list[Any] = [zone_id]
    narrowed = repository.visible(NETWORKS, args)
    mine = f" AND {narrowed}" if narrowed else ""
    rows = await conn.fetch(
        "SELECT * FROM networks WHERE ($1::uuid IS NULL OR zone_id = $1)"
        f"{mine} ORDER BY created_at, id",
        *args,
    )
    return [network_model(r) for r in rows]


async def free_count(conn: Any, network_id: UUID) -> int:
    n: int = await conn.fetchval(
        "SELECT count(*) FROM ip_addresses WHERE network_id = $1 AND state = 'Free'", network_id
    )
    return n


async def allocate_default_nic(conn: Any, vm_id: UUID, zone_id: UUID) -> list[NicInfo]:
    """One NIC with one address on the zone's default network (none if it has none).

    Idempotent: the VM's existing NIC is returned. Raises InvalidInput if no address is free.
    """
    existing = await vm_nics(conn, vm_id)
    if existing:
        return existing
    net = await conn.fetchrow(
        "SELECT id, name FROM networks WHERE zone_id = $1 AND is_default", zone_id
    )
    if net is None:
        return []
    nic_id = uuid4()
    mac = mac_for(vm_id, 0)
    await conn.execute(
        "INSERT INTO nics (id, vm_id, network_id, mac, device_id) VALUES ($1, $2, $3, $4, 0)",
        nic_id,
        vm_id,
        net["id"],
        mac,
    )
    ip = await _take_address(conn, net["id"], net["name"], vm_id, nic_id)
    return [NicInfo(mac=mac, ip_address=ip, network_name=net["name"])]


async def _take_address(conn: Any, network_id: UUID, name: str, vm_id: UUID, nic_id: UUID) -> str:
    """The network's lowest free address for the NIC (concurrent takers skip each
    other's locked rows); AddressesExhausted when none is free."""
    ip: str | None = await conn.fetchval(
        """UPDATE ip_addresses SET state = 'Allocated', vm_id = $2, nic_id = $3,
                                   allocated_at = clock_timestamp()
           WHERE id = (SELECT id FROM ip_addresses WHERE network_id = $1 AND state = 'Free'
                       ORDER BY address LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING host(address)""",
        network_id,
        vm_id,
        nic_id,
    )
    if ip is None:
        raise AddressesExhausted(f"network {name} has no free IP address left")
    await conn.execute("UPDATE nics SET ip_address = $2::inet WHERE id = $1", nic_id, ip)
    await events.append(
        conn, "strato.ip.allocated", "vm", vm_id, payload={"ip": ip, "network": name}
    )
    return ip


async def nics_of(conn: Any, vm_id: UUID) -> list[Nic]:
    """The VM's NICs (NotFound if there is no such VM)."""
    if await conn.fetchval("SELECT 1 FROM vms WHERE id = $1", vm_id) is None:
        raise NotFound(f"VM {vm_id} does not exist", id=str(vm_id))
    rows = await conn.fetch("SELECT * FROM nics WHERE vm_id = $1 ORDER BY device_id", vm_id)
    return [Nic.model_validate(dict(r)) for r in rows]


async def vm_nics(conn: Any, vm_id: UUID) -> list[NicInfo]:
    rows = await conn.fetch(
        """SELECT n.mac, host(n.ip_address) AS ip, net.name,
                  net.physical_network_id IS NOT NULL AS managed
           FROM nics n JOIN networks net ON net.id = n.network_id
           WHERE n.vm_id = $1 ORDER BY n.device_id""",
        vm_id,
    )
    return [
        NicInfo(mac=r["mac"], ip_address=r["ip"], network_name=r["name"], managed=r["managed"])
        for r in rows
    ]


async def allocate_nics(
    conn: Any, vm_id: UUID, networks: list[UUID], owner: str, *, tenant: bool = False
) -> None:
    """One NIC per network (in order; the first the default) with an address each, for a
    VM being deployed. Refused: a network of another zone, one being deleted, another
    owner's isolated network (for an account, ``tenant``: any network but a shared one
    or its own), one with no free address (AddressesExhausted)."""
    zone = await conn.fetchval("SELECT zone_id FROM vms WHERE id = $1", vm_id)
    if len(set(networks)) != len(networks):
        raise InvalidInput("network_ids: a network is named twice", field="network_ids")
    # Locked in id order (as a boot's network steps lock them): never a deadlock.
    rows = await conn.fetch(
        """SELECT id, name, zone_id, kind, owner, state FROM networks
           WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE""",
        networks,
    )
    found = {r["id"]: r for r in rows}
    for device, network_id in enumerate(networks):
        net = found.get(network_id)
        if net is None:
            raise InvalidInput(
                f"network_ids: network {network_id} does not exist", field="network_ids"
            )
        if net["zone_id"] != zone:
            raise InvalidInput(
                f"network_ids: network {net['name']} is in another zone", field="network_ids"
            )
        if net["state"] == "Destroy":
            raise Conflict(f"network {net['name']} is being deleted")
        others = net["kind"] == "isolated" and net["owner"] and owner and net["owner"] != owner
        not_its = tenant and net["kind"] != "shared" and (net["owner"] or "") != owner
        if others or not_its:
            raise InvalidInput(
                f"network_ids: network {net['name']} is another owner's", field="network_ids"
            )
        nic_id, mac = uuid4(), mac_for(vm_id, device)
        await conn.execute(
            """INSERT INTO nics (id, vm_id, network_id, mac, device_id, is_default)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            nic_id,
            vm_id,
            network_id,
            mac,
            device,
            device == 0,
        )
        await _take_address(conn, network_id, net["name"], vm_id, nic_id)


async def release_nics(conn: Any, vm_id: UUID) -> int:
    """Free the VM's addresses and remove its NICs. Idempotent; returns addresses freed."""
    freed = await conn.fetch(
        """UPDATE ip_addresses SET state = 'Free', vm_id = NULL, nic_id = NULL, allocated_at = NULL
           WHERE vm_id = $1 RETURNING host(address) AS ip""",
        vm_id,
    )
    await conn.execute("DELETE FROM nics WHERE vm_id = $1", vm_id)
    if freed:
        await events.append(
            conn, "strato.ip.released", "vm", vm_id, payload={"ips": [r["ip"] for r in freed]}
        )
    return len(freed)
