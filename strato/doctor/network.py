"""The network checks: addresses held by nobody, NICs of expunged VMs, NICs whose address
the pool does not record. The SQL is in :mod:`strato.schema.network.audit`."""

from __future__ import annotations

from functools import partial

from strato.doctor.findings import Checks
from strato.schema.network import audit


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
