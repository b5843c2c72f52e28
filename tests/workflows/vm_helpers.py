"""Building a zone ready for VMs through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import make_fabric, ok, pool_body, unique, wait_operation


async def vm_zone(
    api: httpx.AsyncClient,
    hosts: int = 2,
    *,
    memory_mb: int | None = None,
    network: bool = True,
    pool_bytes: int = 1 << 40,
) -> dict[str, Any]:
    """A zone with ``hosts`` simulated hosts Up, a pool, an offering, a template, a network."""
    fab = await make_fabric(api)
    await ok(
        await api.post(
            "/storage-pools",
            json=pool_body(fab["cluster"]["id"], capacity=pool_bytes),
        ),
        201,
    )
    fab["offering"] = await ok(
        await api.post(
            "/service-offerings",
            json={
                "name": unique("off"),
                "cpu_count": 1,
                "cpu_speed_mhz": 1000,
                "memory_mb": memory_mb or 1024,
            },
        ),
        201,
    )
    fab["template"] = await ok(
        await api.post("/templates", json={"name": unique("tpl"), "size_bytes": 1 << 30}), 201
    )
    if network:
        fab["network"] = await ok(
            await api.post(
                "/networks",
                json={
                    "zone_id": fab["zone"]["id"],
                    "name": "guest",
                    "cidr": "10.20.0.0/24",
                    "gateway": "10.20.0.1",
                    "ip_start": "10.20.0.10",
                    "ip_end": "10.20.0.250",
                },
            ),
            201,
        )
    ops = []
    fab["hosts"] = []
    for i in range(hosts):
        r = await ok(
            await api.post(
                "/hosts", json={"cluster_id": fab["cluster"]["id"], "name": unique(f"h{i}")}
            ),
            202,
        )
        ops.append(r["operation"]["id"])
        fab["hosts"].append(r["resource"])
    for op in ops:
        assert (await wait_operation(api, op))["state"] == "succeeded"
    return fab


async def deploy(
    api: httpx.AsyncClient, fab: dict[str, Any], name: str | None = None, **extra: Any
) -> dict[str, Any]:
    body = {
        "name": name or unique("vm"),
        "zone_id": fab["zone"]["id"],
        "service_offering_id": fab["offering"]["id"],
        "template_id": fab["template"]["id"],
        **extra,
    }
    accepted: dict[str, Any] = await ok(await api.post("/vms", json=body), 202)
    return accepted


async def act(
    api: httpx.AsyncClient, vm_id: str, verb: str, body: Any = None, expect: str = "succeeded"
) -> dict[str, Any]:
    r = await api.post(f"/vms/{vm_id}/{verb}", json=body)
    accepted = await ok(r, 202)
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == expect, op
    return op


async def running_vm(api: httpx.AsyncClient, fab: dict[str, Any]) -> str:
    """Deploy a VM and wait until it runs; its id."""
    accepted = await deploy(api, fab)
    op = await wait_operation(api, accepted["operation"]["id"])
    assert op["state"] == "succeeded", op
    vm_id: str = accepted["resource"]["id"]
    return vm_id


async def huge_offering(api: httpx.AsyncClient) -> dict[str, Any]:
    """An offering no host can take (a deploy with it fails for capacity)."""
    body = {"name": unique("huge"), "cpu_count": 1, "cpu_speed_mhz": 1000, "memory_mb": 10_000_000}
    offering: dict[str, Any] = await ok(await api.post("/service-offerings", json=body), 201)
    return offering
