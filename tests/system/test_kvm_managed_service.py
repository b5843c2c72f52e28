"""A managed service on a real libvirt host: one instance of the tiny guest, whose
health check is an HTTP GET of its busybox httpd (port 80, /health), run by the host's
compute agent. The guest is on an isolated network the host reaches (a port of the
network agent's switch in the root namespace, as a management network would be): it
goes healthy and is discoverable in the directory; a `virsh destroy` of its domain
gets it replaced by a new guest that serves; removing the service expunges its VMs."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import httpx

from strato.domain.network.specs import PortSpec
from strato.drivers.network.ovs import OvsElement
from strato.drivers.network.ovs_daemon import available
from strato.schema.compute.vms import hypervisor_name
from strato.schema.db import Database
from strato.settings import Settings
from tests.helpers import ok, unique
from tests.netlab import sh
from tests.system.conftest import network_agent
from tests.workflows.test_guest_networks import networking
from tests.workflows.test_managed_services import listed, serving, status, until


async def test_a_real_guest_serves_a_managed_service(
    api: httpx.AsyncClient, kvm: dict[str, Any], settings: Settings, db: Database
) -> None:
    assert available() is None, available()
    fab = await networking(api, kvm)
    mgmt = None
    name = unique("httpd").lower().replace("_", "-")
    try:
        async with network_agent(settings, kvm["host"]) as agent:
            svc = await ok(
                await api.post(
                    "/managed-services",
                    json={
                        "name": name,
                        "release": "1",
                        "zone_id": fab["zone"]["id"],
                        "template_id": fab["template"]["id"],
                        "service_offering_id": fab["offering"]["id"],
                        "network_ids": [fab["network"]["id"]],
                        "min_instances": 1,
                        "max_instances": 1,
                        "health": {
                            "kind": "http",
                            "port": 80,
                            "path": "/health",
                            "interval_s": 2,
                            "grace_s": 240,
                        },
                    },
                ),
                201,
            )
            # The host's way onto the network: a switch port in the root namespace.
            await until("its VM running", lambda: _vm_running(api, svc["id"]), timeout_s=240)
            assert agent.private is not None
            ovs = OvsElement("mgmt", db=agent.private.db, bridge=agent.bridge)
            port = await ovs.plug(PortSpec(network=fab["network"]["id"], mac="02:ab:cd:00:00:02"))
            mgmt = port.device
            sh("ip", "addr", "add", "10.77.0.201/24", "dev", mgmt)
            sh("ip", "link", "set", mgmt, "up")

            try:
                first = await until("the guest serving", lambda: _one_serving(api, svc["id"]), 240)
            except AssertionError as err:
                raise AssertionError(f"{err}; last status: {SEEN.get('status')}") from None
            entries = await until("listed", lambda: _listed(api, name), 60)
            assert entries[0]["endpoints"][0]["url"] == f"http://{first['address']}:80/health"
            assert "200" in (first["detail"] or ""), first

            # virsh destroy behind Strato's back: the host's report marks it Stopped, and
            # the reconciler replaces it with a new guest that serves.
            domain = hypervisor_name(uuid.UUID(first["vm_id"]))
            subprocess.run(["virsh", "-c", "qemu:///system", "destroy", domain], check=True)

            async def replaced() -> dict[str, Any] | None:
                got = await _one_serving(api, svc["id"])
                return got if got and got["vm_id"] != first["vm_id"] else None

            second = await until("a new guest serving", replaced, 360)
            await until("the new one listed", lambda: _listed(api, name, second["vm_id"]), 60)

            r = await api.delete(f"/managed-services/{svc['id']}")
            assert r.status_code == 202, r.text

            async def removed() -> bool:
                return (await api.get(f"/managed-services/{svc['id']}")).status_code == 404

            await until("the service removed", removed, 120)
            assert await listed(api, name) == []
            async with db.conn() as conn:
                states = await conn.fetch(
                    "SELECT state FROM vms WHERE owner = $1", f"service:{name}"
                )
            assert {s["state"] for s in states} == {"Expunged"}, states
    finally:
        if mgmt is not None:
            sh("ip", "link", "del", mgmt, check=False)


async def _vm_running(api: httpx.AsyncClient, svc_id: str) -> bool:
    st = await status(api, svc_id)
    return any(i["vm_state"] == "Running" for i in st["instances"])


SEEN: dict[str, Any] = {}  # the last status, for the failure message


async def _one_serving(api: httpx.AsyncClient, svc_id: str) -> dict[str, Any] | None:
    st = await status(api, svc_id)
    SEEN["status"] = st
    good = serving(st)
    return good[0] if len(good) == 1 else None


async def _listed(
    api: httpx.AsyncClient, kind: str, vm_id: str | None = None
) -> list[dict[str, Any]] | None:
    found = [e for e in await listed(api, kind) if e["health"] == "passing"]
    if vm_id is not None:
        found = [e for e in found if e["metadata"]["vm_id"] == vm_id]
    return found or None
