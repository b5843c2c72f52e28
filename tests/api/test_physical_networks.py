"""Physical networks, segment ranges and public IPs through the REST API with real PG:
ranges validated and never overlapping, segment ids and public addresses allocated
atomically under real concurrency (never twice, the rest refused as exhausted), NIC
addresses the same; refusals change nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from strato.commands.compute import vm_row
from strato.domain.compute.models import ServiceOffering
from strato.domain.errors import AddressesExhausted, SegmentsExhausted
from strato.domain.network.specs import DesignRequest, NetworkDesign
from strato.drivers.network.guru import guru_for
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.network import ipam, physical
from strato.schema.tables import SERVICE_OFFERINGS
from tests.helpers import make_fabric, ok, table_counts, unique


def _design(values: dict[str, Any]) -> NetworkDesign:
    fields = {k: v for k, v in values.items() if k in ("cidr", "gateway", "ip_start", "ip_end")}
    return guru_for(None).design(DesignRequest(**fields))


async def _pn(api: httpx.AsyncClient, zone_id: str, **body: Any) -> dict[str, Any]:
    payload = {"zone_id": zone_id, "name": unique("phy"), **body}
    got: dict[str, Any] = await ok(await api.post("/physical-networks", json=payload), 201)
    return got


async def test_vnet_ranges_are_checked_and_never_overlap(
    api: httpx.AsyncClient, db: Database
) -> None:
    fab = await make_fabric(api)
    zone = fab["zone"]["id"]
    pn = await _pn(api, zone, vnets={"start": 100, "end": 109}, traffic_types=["guest"])
    assert pn["isolation"] == "VLAN" and pn["vnets"] == [{"start": 100, "end": 109, "allocated": 0}]
    got = await ok(
        await api.post(f"/physical-networks/{pn['id']}/vnets", json={"start": 200, "end": 204})
    )
    assert [(r["start"], r["end"]) for r in got["vnets"]] == [(100, 109), (200, 204)]

    before = await table_counts(db)
    for body, status, text in (
        ({"start": 105, "end": 120}, 409, "in a range already"),
        ({"start": 4000, "end": 4095}, 422, "within 1-4094"),
        ({"start": 10, "end": 5}, 422, "start <= end"),
        ({"start": 1, "end": 4094, "extra": 1}, 422, "extra"),
    ):
        r = await api.post(f"/physical-networks/{pn['id']}/vnets", json=body)
        assert r.status_code == status and text in r.text, (body, r.text)
    bad = await api.post(
        "/physical-networks",
        json={"zone_id": zone, "name": unique("p"), "traffic_types": ["guest", "guest"]},
    )
    assert bad.status_code == 422, bad.text
    assert await table_counts(db) == before

    vx = await _pn(api, zone, isolation="VXLAN", vnets={"start": 5000, "end": 5009})
    assert vx["vnets"][0]["start"] == 5000  # a VNI beyond VLAN's ids
    left = await ok(
        await api.delete(f"/physical-networks/{pn['id']}/vnets", params={"start": 200, "end": 204})
    )
    assert [(r["start"], r["end"]) for r in left["vnets"]] == [(100, 109)]


async def test_segment_ids_go_once_each_under_concurrency(
    api: httpx.AsyncClient, db: Database
) -> None:
    fab = await make_fabric(api)
    zone = uuid.UUID(fab["zone"]["id"])
    pn = await _pn(api, str(zone), vnets={"start": 300, "end": 309})
    async with db.tx() as conn:
        nets = []
        for i in range(30):
            values = {
                "zone_id": zone,
                "name": unique("n"),
                "cidr": f"10.{i}.0.0/24",
                "ip_start": f"10.{i}.0.10",
                "ip_end": f"10.{i}.0.10",
            }
            nets.append((await ipam.create_network(conn, values, _design(values))).id)

    async def one(net: uuid.UUID) -> int | str:
        try:
            async with db.tx() as conn:
                return await physical.allocate_segment(conn, uuid.UUID(pn["id"]), net)
        except SegmentsExhausted:
            return "exhausted"

    got = await asyncio.gather(*(one(n) for n in nets))
    ids = [g for g in got if isinstance(g, int)]
    assert sorted(ids) == list(range(300, 310)) and got.count("exhausted") == 20
    async with db.tx() as conn:  # again for a network that has one: the same id
        assert (
            await physical.allocate_segment(conn, uuid.UUID(pn["id"]), nets[got.index(ids[0])])
            == ids[0]
        )
    view = await ok(await api.get(f"/physical-networks/{pn['id']}/vnets"))
    assert view["vnets"] == [{"start": 300, "end": 309, "allocated": 10}]
    held = await api.delete(
        f"/physical-networks/{pn['id']}/vnets", params={"start": 300, "end": 300}
    )
    assert held.status_code == 409, held.text
    assert (await api.delete(f"/physical-networks/{pn['id']}")).status_code == 409


async def test_public_ips_are_acquired_once_each_under_concurrency(
    api: httpx.AsyncClient, db: Database
) -> None:
    fab = await make_fabric(api)
    zone = fab["zone"]["id"]
    guest_only = await _pn(api, zone)
    body = {
        "zone_id": zone,
        "gateway": "203.0.113.1",
        "netmask": "255.255.255.0",
        "start": "203.0.113.10",
        "end": "203.0.113.29",
    }
    before = await table_counts(db)
    for bad, status, text in (
        ({"start": "198.51.100.10"}, 422, "not in the gateway's subnet"),
        ({"start": "203.0.113.0"}, 422, "network or broadcast"),
        ({"end": "203.0.113.5"}, 422, "before start"),
        ({"gateway": "203.0.113.15"}, 422, "inside the range"),
        ({"netmask": "nope"}, 422, "netmask"),
        ({"start": "2001:db8::1"}, 422, "IPv4"),
        ({"vlan": "5000"}, 422, "vlan"),
        ({"physical_network_id": guest_only["id"]}, 422, "no public traffic"),
    ):
        r = await api.post("/public-ip-ranges", json={**body, **bad})
        assert r.status_code == status and text in r.text, (bad, r.text)
    assert await table_counts(db) == before
    rng = await ok(await api.post("/public-ip-ranges", json=body), 201)
    overlap = await api.post(
        "/public-ip-ranges", json={**body, "start": "203.0.113.29", "end": "203.0.113.40"}
    )
    assert overlap.status_code == 409 and "overlaps" in overlap.text, overlap.text

    # 50 at once on a range of 20: exactly 20 addresses, each once; 30 refused.
    async def acquire(i: int) -> httpx.Response:
        return await api.post("/public-ips", json={"zone_id": zone, "owner": f"o{i % 3}"})

    answers = await asyncio.gather(*(acquire(i) for i in range(50)))
    won = [r.json() for r in answers if r.status_code == 201]
    lost = [r.json() for r in answers if r.status_code != 201]
    assert len(won) == 20 and len({w["address"] for w in won}) == 20
    assert {w["address"] for w in won} == {f"203.0.113.{i}" for i in range(10, 30)}
    assert len(lost) == 30 and all(p["type"].endswith("addresses-exhausted") for p in lost)

    released = await ok(await api.delete(f"/public-ips/{won[0]['id']}"))
    assert released["state"] == "Free" and released["owner"] is None
    again = await api.delete(f"/public-ips/{won[0]['id']}")
    assert again.status_code == 409, again.text
    back = await ok(await api.post("/public-ips", json={"zone_id": zone, "owner": "x"}), 201)
    assert back["address"] == won[0]["address"]
    assert (await api.delete(f"/public-ip-ranges/{rng['id']}")).status_code == 409
    events = await ok(await api.get("/events", params={"resource_id": back["id"]}))
    assert [e["type"] for e in events["items"]][-3:] == [
        "strato.public_ip.allocated",
        "strato.public_ip.released",
        "strato.public_ip.allocated",
    ]
    for ip in [*won[1:], back]:
        await ok(await api.delete(f"/public-ips/{ip['id']}"))
    assert (await api.delete(f"/public-ip-ranges/{rng['id']}")).status_code == 204


async def test_nic_addresses_go_once_each_under_concurrency(
    api: httpx.AsyncClient, db: Database
) -> None:
    """200 NICs at once on a /24 network with 100 free addresses: exactly 100 get one,
    no address or MAC twice; the rest are refused as exhausted."""
    fab = await make_fabric(api)
    zone = uuid.UUID(fab["zone"]["id"])
    body = {"name": unique("so"), "cpu_count": 1, "cpu_speed_mhz": 500, "memory_mb": 128}
    off = await ok(await api.post("/service-offerings", json=body), 201)
    tpl = await ok(
        await api.post("/templates", json={"name": unique("t"), "size_bytes": 1 << 20}), 201
    )
    async with db.tx() as conn:
        values = {
            "zone_id": zone,
            "name": unique("guest"),
            "cidr": "10.20.0.0/24",
            "gateway": "10.20.0.1",
            "ip_start": "10.20.0.10",
            "ip_end": "10.20.0.109",
            "is_default": True,
        }
        await ipam.create_network(conn, values, _design(values))
        offering: ServiceOffering = await repository.get(
            conn, SERVICE_OFFERINGS, uuid.UUID(off["id"])
        )
        vms = []
        for i in range(200):
            row = vm_row(uuid.uuid4(), f"n{i}", "", zone, offering, uuid.UUID(tpl["id"]), "")
            vms.append((await repository.insert(conn, _vms(), row)).id)

    async def one(vm_id: uuid.UUID) -> tuple[str, str] | str:
        try:
            async with db.tx() as conn:
                (nic,) = await ipam.allocate_default_nic(conn, vm_id, zone)
                assert nic.ip_address is not None
                return nic.ip_address, nic.mac
        except AddressesExhausted:
            return "exhausted"

    got = await asyncio.gather(*(one(v) for v in vms))
    nics = [g for g in got if isinstance(g, tuple)]
    assert len(nics) == 100 and got.count("exhausted") == 100
    assert len({ip for ip, _ in nics}) == 100 and len({mac for _, mac in nics}) == 100
    async with db.conn() as conn:
        assert await conn.fetchval("SELECT count(*) FROM nics WHERE vm_id = ANY($1)", vms) == 100


def _vms() -> Any:
    from strato.schema.compute.vms import VMS

    return VMS


async def test_guest_networks_are_checked_against_the_zone_and_their_offering(
    api: httpx.AsyncClient, db: Database
) -> None:
    fab = await make_fabric(api)
    zone = fab["zone"]["id"]
    offerings = await ok(await api.get("/network-offerings", params={"guest_type": "Isolated"}))
    isolated = next(o for o in offerings["items"] if o["name"].startswith("DefaultIsolated"))
    assert "SourceNat" in isolated["services"]
    guest = await _pn(api, zone, isolation="VXLAN", vnets={"start": 7000, "end": 7009})
    body = {
        "zone_id": zone,
        "name": unique("iso"),
        "kind": "isolated",
        "cidr": "10.70.0.0/24",
        "offering_id": isolated["id"],
        "physical_network_id": guest["id"],
    }
    made = await ok(await api.post("/networks", json=body), 201)
    assert (made["state"], made["gateway"], made["ip_start"], made["ip_end"]) == (
        "Allocated",
        "10.70.0.1",
        "10.70.0.2",
        "10.70.0.254",
    )
    assert made["free_addresses"] == 253 and not made["is_default"]

    shared = next(
        o
        for o in (await ok(await api.get("/network-offerings")))["items"]
        if o["guest_type"] == "Shared"
    )
    public_only = await _pn(api, zone, traffic_types=["public"])
    before = await table_counts(db)
    for bad, status, text in (
        ({"cidr": "10.70.0.128/25"}, 409, "overlaps"),
        ({"cidr": "10.71.0.0/24", "gateway": "10.72.0.1"}, 422, "gateway"),
        ({"cidr": "10.71.0.0/24", "gateway": "10.71.0.255"}, 422, "gateway"),
        ({"cidr": "10.71.0.5/24"}, 422, "cidr"),
        ({"cidr": "10.71.0.0/24", "offering_id": shared["id"]}, 422, "offering_id"),
        ({"cidr": "10.71.0.0/24", "physical_network_id": public_only["id"]}, 422, "guest"),
        ({"cidr": "10.71.0.0/24", "offering_id": str(uuid.uuid4())}, 422, "offering_id"),
    ):
        r = await api.post("/networks", json={**body, "name": unique("bad"), **bad})
        assert r.status_code == status and text in r.text, (bad, r.text)
    dup = await api.post(
        "/network-offerings",
        json={"name": unique("o"), "guest_type": "Isolated", "services": ["Dhcp", "Dhcp"]},
    )
    assert dup.status_code == 422, dup.text
    assert await table_counts(db) == before
    # Two at once on the same subnet: one network, the other refused as overlapping.
    answers = await asyncio.gather(
        *(
            api.post("/networks", json={**body, "name": unique("race"), "cidr": "10.80.0.0/24"})
            for _ in range(2)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    assert (await api.delete(f"/networks/{made['id']}")).status_code == 204


async def test_public_ip_rules_are_checked_and_hold_their_ip(
    api: httpx.AsyncClient, db: Database
) -> None:
    fab = await make_fabric(api)
    zone = uuid.UUID(fab["zone"]["id"])
    body = {"name": unique("so"), "cpu_count": 1, "cpu_speed_mhz": 500, "memory_mb": 128}
    off = await ok(await api.post("/service-offerings", json=body), 201)
    tpl = await ok(
        await api.post("/templates", json={"name": unique("t"), "size_bytes": 1 << 20}), 201
    )
    async with db.tx() as conn:
        values = {"zone_id": zone, "name": unique("g"), "cidr": "10.30.0.0/24", "is_default": True}
        net = await ipam.create_network(conn, values, _design(values))
        offering = await repository.get(conn, SERVICE_OFFERINGS, uuid.UUID(off["id"]))
        vms, addresses = [], []
        for i in range(2):
            row = vm_row(uuid.uuid4(), f"r{i}", "", zone, offering, uuid.UUID(tpl["id"]), "")
            vm = await repository.insert(conn, _vms(), row)
            (nic,) = await ipam.allocate_default_nic(conn, vm.id, zone)
            vms.append(str(vm.id))
            addresses.append(nic.ip_address)
    rng = {
        "zone_id": str(zone),
        "gateway": "198.51.100.1",
        "netmask": "255.255.255.0",
        "start": "198.51.100.10",
        "end": "198.51.100.19",
    }
    await ok(await api.post("/public-ip-ranges", json=rng), 201)

    async def acquire(network: bool = True) -> dict[str, Any]:
        payload = {"zone_id": str(zone), **({"network_id": str(net.id)} if network else {})}
        got: dict[str, Any] = await ok(await api.post("/public-ips", json=payload), 201)
        return got

    ip1, ip2, loose, ip4 = await acquire(), await acquire(), await acquire(False), await acquire()
    pf = {"vm_id": vms[0], "protocol": "tcp", "public_start": 8080, "private_start": 80}
    rule = await ok(await api.post(f"/public-ips/{ip1['id']}/port-forwarding-rules", json=pf), 201)
    assert (rule["private_ip"], rule["public_end"], rule["private_end"]) == (addresses[0], 8080, 80)
    udp = await ok(
        await api.post(
            f"/public-ips/{ip1['id']}/port-forwarding-rules", json={**pf, "protocol": "udp"}
        ),
        201,
    )
    async with db.conn() as conn:
        await conn.execute(
            "UPDATE public_ips SET source_nat = true WHERE id = $1", uuid.UUID(ip2["id"])
        )

    before = await table_counts(db)
    for path, payload, status, text in (
        (
            f"/public-ips/{ip1['id']}/port-forwarding-rules",
            {**pf, "public_start": 8000, "public_end": 8085, "private_start": 1000},
            409,
            "clash",
        ),
        (
            f"/public-ips/{ip1['id']}/port-forwarding-rules",
            {**pf, "public_start": 0},
            422,
            "public_start",
        ),
        (
            f"/public-ips/{ip1['id']}/port-forwarding-rules",
            {**pf, "public_start": 70000},
            422,
            "public_start",
        ),
        (
            f"/public-ips/{ip1['id']}/port-forwarding-rules",
            {**pf, "public_start": 9000, "public_end": 9010, "private_end": 95},
            422,
            "match",
        ),
        (
            f"/public-ips/{ip1['id']}/port-forwarding-rules",
            {**pf, "public_start": 9100, "vm_id": str(uuid.uuid4())},
            422,
            "vm_id",
        ),
        (f"/public-ips/{loose['id']}/port-forwarding-rules", pf, 409, "no network"),
        (f"/public-ips/{ip1['id']}/firewall-rules", {"protocol": "tcp"}, 422, "ports"),
        (
            f"/public-ips/{ip1['id']}/firewall-rules",
            {"protocol": "icmp", "start_port": 1},
            422,
            "no ports",
        ),
        (f"/public-ips/{ip1['id']}/firewall-rules", {"protocol": "gre"}, 422, "protocol"),
        (
            f"/public-ips/{ip1['id']}/firewall-rules",
            {"protocol": "all", "cidrs": ["10.0.0.5/24"]},
            422,
            "cidrs",
        ),
        (
            f"/public-ips/{ip1['id']}/firewall-rules",
            {"protocol": "all", "cidrs": ["nope"]},
            422,
            "cidrs",
        ),
        (f"/public-ips/{ip1['id']}/firewall-rules", {"protocol": "all", "cidrs": []}, 422, "cidrs"),
        (f"/public-ips/{ip2['id']}/static-nat", {"vm_id": vms[1]}, 409, "source NAT"),
        (f"/public-ips/{ip1['id']}/static-nat", {"vm_id": vms[1]}, 409, "port forwarding"),
    ):
        r = await api.post(path, json=payload)
        assert r.status_code == status and text in r.text, (path, payload, r.text)
    assert await table_counts(db) == before

    fw = await ok(
        await api.post(
            f"/public-ips/{ip1['id']}/firewall-rules",
            json={"protocol": "tcp", "start_port": 8080, "cidrs": ["203.0.113.0/24"]},
        ),
        201,
    )
    assert (fw["end_port"], fw["cidrs"]) == (8080, ["203.0.113.0/24"])
    nat = await ok(await api.post(f"/public-ips/{ip4['id']}/static-nat", json={"vm_id": vms[1]}))
    assert (nat["static_nat_vm_id"], nat["static_nat_ip"]) == (vms[1], addresses[1])
    twice = await api.post(f"/public-ips/{ip2['id']}/static-nat", json={"vm_id": vms[1]})
    assert twice.status_code == 409, twice.text

    # An IP with rules, or static NAT, is not released until they are gone.
    for ip in (ip1, ip4):
        held = await api.delete(f"/public-ips/{ip['id']}")
        assert held.status_code == 409 and "remove them" in held.text, held.text
    for r in (rule, udp):
        assert (await api.delete(f"/port-forwarding-rules/{r['id']}")).status_code == 204
    assert (await api.delete(f"/firewall-rules/{fw['id']}")).status_code == 204
    await ok(await api.delete(f"/public-ips/{ip4['id']}/static-nat"))
    for ip in (ip1, ip4):
        assert (await ok(await api.delete(f"/public-ips/{ip['id']}")))["state"] == "Free"
