"""The demo zone ``strato up`` creates on first start, through the public API."""

from __future__ import annotations

from collections.abc import Callable

from strato.sdk.client import StratoClient
from strato.settings import Settings

GiB = 1 << 30


def seed_demo(settings: Settings, api_key: str, progress: Callable[[str], None]) -> str:
    """Create zone, pod, cluster, pool, image store, offerings, template and N simulated
    hosts, unless the zone exists. Hosts are added through the AddHost workflow, like real ones."""
    api = StratoClient(settings.resolved_api_url(), api_key, timeout=60)
    try:
        name = settings.demo_zone
        if api.get("/zones", name=name)["items"]:
            hosts = api.get("/hosts", limit=500)["items"]
            up = sum(1 for h in hosts if h["status"] == "Up")
            return f"(exists: {up}/{len(hosts)} hosts Up)"
        zone = api.post("/zones", {"name": name, "description": "simulated demo zone"})
        pod = api.post("/pods", {"zone_id": zone["id"], "name": f"{name}-pod1"})
        cluster = api.post(
            "/clusters",
            {
                "pod_id": pod["id"],
                "name": f"{name}-cluster1",
                "hypervisor": "simulator",
                "cpu_overcommit_ratio": 2.0,
            },
        )
        api.post(
            "/storage-pools",
            {
                "name": f"{name}-primary1",
                "cluster_id": cluster["id"],
                "driver": "simulator",
                "capacity_bytes": 10 * 1024 * GiB,
                "overprovisioning_factor": 2.0,
            },
        )
        # A real directory store (the children of `strato up` have it among their image
        # roots): templates are downloaded, checked with qemu-img, uploaded into it.
        store = settings.data_dir / "images" / f"{name}-secondary1"
        store.mkdir(parents=True, exist_ok=True)
        api.post(
            "/image-stores",
            {
                "name": f"{name}-secondary1",
                "zone_id": zone["id"],
                "driver": "directory",
                "url": f"file://{store}",
            },
        )
        for off in (("small", 1, 512), ("medium", 2, 2048), ("large", 4, 8192)):
            api.post(
                "/service-offerings",
                {"name": off[0], "cpu_count": off[1], "cpu_speed_mhz": 1000, "memory_mb": off[2]},
            )
        api.post("/disk-offerings", {"name": "custom", "custom_size": True})
        api.post("/disk-offerings", {"name": "small-20g", "size_gb": 20})
        api.post(
            "/templates",
            {"name": "tiny-linux", "os_type": "Linux", "zone_id": zone["id"], "size_bytes": GiB},
        )
        api.post(
            "/networks",
            {
                "zone_id": zone["id"],
                "name": f"{name}-guest",
                "cidr": "10.1.0.0/20",
                "gateway": "10.1.0.1",
                "ip_start": "10.1.0.10",
                "ip_end": "10.1.15.250",
            },
        )
        # Accounts' isolated networks (a VLAN each) and their public addresses: a guest
        # and public physical network, and a documentation range (RFC 5737).
        api.post(
            "/physical-networks",
            {
                "zone_id": zone["id"],
                "name": f"{name}-physical",
                "traffic_types": ["guest", "public"],
                "vnets": {"start": 100, "end": 199},
            },
        )
        api.post(
            "/public-ip-ranges",
            {
                "zone_id": zone["id"],
                "gateway": "203.0.113.1",
                "netmask": "255.255.255.0",
                "start": "203.0.113.10",
                "end": "203.0.113.250",
            },
        )
        ops = []
        for i in range(1, settings.demo_hosts + 1):
            accepted = api.post(
                "/hosts",
                {"cluster_id": cluster["id"], "name": f"{name}-host{i}"},
                idempotency_key=f"demo-host-{name}-{i}",
            )
            ops.append(accepted["operation"]["id"])
        up = 0
        for op_id in ops:
            if api.wait_operation(op_id, timeout=120)["state"] == "succeeded":
                up += 1
        progress(f"{up}/{len(ops)} hosts Up")
        return f"(zone, pod, cluster, pool, offerings, template, networks, public IPs, {up} hosts)"
    finally:
        api.close()
