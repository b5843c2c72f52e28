"""The network checks: addresses held by nobody, NICs of expunged VMs, NICs whose address
the pool does not record. The SQL is in :mod:`strato.schema.network.audit`."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from strato.doctor.findings import Checks
from strato.domain.network.payloads import NetworkInventory, NetworkProbe
from strato.schema.network import audit


def probes(expected: list[dict[str, Any]]) -> list[NetworkProbe]:
    """What to ask the network agents: each network's router and ports, host by host."""
    out = []
    for net in expected:
        hosts = set(net["ports"]) | ({net["router_host"]} if net["router_host"] else set())
        out += [
            NetworkProbe(host=h, network=net["key"], router=h == net["router_host"])
            for h in sorted(hosts)
        ]
    return out


async def devices(
    c: Checks, expected: list[dict[str, Any]], reports: list[NetworkInventory]
) -> list[UUID]:
    """Each network's router and ports as its hosts' agents report them, against the
    database; the networks that drifted (their repair: a restart, which rebuilds the
    router and plugs and prunes ports from the database)."""
    got = {(r.host, r.network): r for r in reports}
    drifted: list[UUID] = []
    for net in expected:
        where = f"network {net['name']} ({net['id']})"
        found: list[tuple[str, str]] = []
        for (host, network), rep in got.items():
            if network != net["key"]:
                continue
            if rep.ports is None:
                c.notes.append(f"network agent of {host} did not answer: {rep.error}")
                continue
            want = set(net["ports"].get(host, []))
            found += [
                ("port-missing", f"{m} is not plugged on {host}") for m in want - set(rep.ports)
            ]
            found += [
                ("port-extra", f"{m} is plugged on {host}, for no NIC")
                for m in set(rep.ports) - want
            ]
            if host == net["router_host"]:
                if rep.router is None:
                    found.append(("router-missing", f"its router does not run on {host}"))
                elif rep.router.digest != net["digest"]:
                    found.append(("router-drift", f"its router on {host} is not the database's"))
        for check, detail in found:
            await c.found(check, "network", net["id"], where, detail, "restart the network", None)
        if found:
            drifted.append(net["id"])
    return drifted


async def addresses(c: Checks) -> None:
    for r in await c.read(audit.leaked_addresses):
        if r["vm_id"] is None or r["name"] is None:
            why = "no VM"
        elif r["vm_state"] == "Expunged":
            why = f"VM {r['name']}, which is Expunged"
        else:
            why = f"VM {r['name']} through a NIC it does not have"
        await c.found(
            "leaked-ip",
            "ip_address",
            r["id"],
            f"ip {r['ip']}",
            f"address is {r['state']} for {why}",
            "free the address",
            partial(audit.free_address, address_id=r["id"], vm_id=r["vm_id"]),
        )
    for r in await c.read(audit.expunged_with_nics):
        await c.found(
            "leaked-nic",
            "vm",
            r["id"],
            f"vm {r['name']} ({r['id']})",
            "VM is Expunged but still has NICs",
            "remove its NICs and free their addresses",
            partial(audit.release_nics, vm_id=r["id"]),
        )
    for r in await c.read(audit.unrecorded_nic_addresses):
        where = f"vm {r['name']} ({r['vm_id']})"
        if r["holder"] is not None:
            await c.found(
                "duplicate-ip",
                "vm",
                r["vm_id"],
                where,
                f"NIC has {r['ip']}, which is allocated to VM {r['holder']}",
                "",
                None,
            )
            continue
        await c.found(
            "unrecorded-ip",
            "vm",
            r["vm_id"],
            where,
            f"NIC has {r['ip']}, which the address pool records as Free",
            f"allocate {r['ip']} to the NIC",
            partial(
                audit.allocate_address,
                nic_id=r["id"],
                vm_id=r["vm_id"],
                network_id=r["network_id"],
                ip=r["ip"],
            ),
        )
