"""Table specs of the fabric and catalog resources."""

from __future__ import annotations

from strato.domain.compute.models import ServiceOffering, Template
from strato.domain.fabric.models import Cluster, Host, Pod, Zone
from strato.domain.storage.models import DiskOffering, StoragePool
from strato.schema.repository import TableSpec

ZONES = TableSpec(
    "zones",
    "zone",
    Zone,
    dependents={
        "pods": "pods",
        "clusters": "clusters",
        "hosts": "hosts",
        "storage_pools": "storage pools",
        "templates": "templates",
        "networks": "networks",
        "vms": "VMs",
        "volumes": "volumes",
    },
)
PODS = TableSpec(
    "pods",
    "pod",
    Pod,
    references={"zone_id": "zone"},
    dependents={"clusters": "clusters", "hosts": "hosts", "storage_pools": "storage pools"},
)
CLUSTERS = TableSpec(
    "clusters",
    "cluster",
    Cluster,
    references={"zone_id": "zone", "pod_id": "pod"},
    dependents={"hosts": "hosts", "storage_pools": "storage pools"},
)
HOSTS = TableSpec(
    "hosts",
    "host",
    Host,
    state_column="status",
    references={"zone_id": "zone", "pod_id": "pod", "cluster_id": "cluster"},
    dependents={"vms": "VMs"},
)
STORAGE_POOLS = TableSpec(
    "storage_pools",
    "storage_pool",
    StoragePool,
    references={"zone_id": "zone", "pod_id": "pod", "cluster_id": "cluster"},
    dependents={"volumes": "volumes"},
)
SERVICE_OFFERINGS = TableSpec(
    "service_offerings",
    "service_offering",
    ServiceOffering,
    dependents={"vms": "VMs"},
)
DISK_OFFERINGS = TableSpec(
    "disk_offerings",
    "disk_offering",
    DiskOffering,
    dependents={"volumes": "volumes"},
)
TEMPLATES = TableSpec(
    "templates",
    "template",
    Template,
    references={"zone_id": "zone"},
    dependents={"vms": "VMs", "volumes": "volumes"},
    # The cloud's (no account owns a template yet): an account sees the public ones.
    owner="''",
    shared="is_public",
)
