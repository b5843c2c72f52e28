"""Infrastructure (admin) and the catalog every account reads: zones, pods, clusters,
hosts, storage pools, offerings, OS types, capabilities, and ``listApis``."""

from __future__ import annotations

from typing import Any

from strato.services.cloudstack_api import registry, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import COMMON, answer_list
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.schema import fabric_views as fv
from strato.services.cloudstack_api.schema import views as v

ZONE_ID = P("zoneid", "uuid", description="the zone")
_ZONE = "t.zone_id = {}"


@command(
    "listZones",
    "Lists zones",
    *COMMON,
    P("available", "boolean", description="only zones the caller may deploy in"),
    P("networktype", "string", description="Basic or Advanced"),
    P("showcapacities", "boolean", description="accepted; capacities are not shown"),
    item="zone",
    action="zone.list",
    response=("id", "name", "networktype", "allocationstate", "securitygroupsenabled"),
)
async def list_zones(call: Call) -> dict[str, Any]:
    filters = []
    if call.get("networktype"):
        filters.append(("lower(t.network_type) = lower({})", call["networktype"]))
    if call.get("available"):
        filters.append(("t.state = {}", "Enabled"))
    return await answer_list(call, fv.ZONES, "zone", filters=filters, owned=False)


@command(
    "listPods",
    "Lists pods",
    *COMMON,
    ZONE_ID,
    item="pod",
    action="pod.list",
    admin=True,
    response=("id", "name", "zoneid", "gateway", "netmask", "allocationstate"),
)
async def list_pods(call: Call) -> dict[str, Any]:
    filters = [(_ZONE, call["zoneid"])] if call.get("zoneid") else []
    return await answer_list(call, fv.PODS, "pod", filters=filters, owned=False)


@command(
    "listClusters",
    "Lists clusters",
    *COMMON,
    ZONE_ID,
    P("podid", "uuid"),
    P("hypervisor", "string"),
    item="cluster",
    action="cluster.list",
    admin=True,
    response=("id", "name", "zoneid", "podid", "hypervisortype", "allocationstate"),
)
async def list_clusters(call: Call) -> dict[str, Any]:
    filters = [(_ZONE, call["zoneid"])] if call.get("zoneid") else []
    if call.get("podid"):
        filters.append(("t.pod_id = {}", call["podid"]))
    if call.get("hypervisor"):
        filters.append(("lower(t.hypervisor) = lower({})", call["hypervisor"]))
    return await answer_list(call, fv.CLUSTERS, "cluster", filters=filters, owned=False)


@command(
    "listHosts",
    "Lists hosts",
    *COMMON,
    ZONE_ID,
    P("podid", "uuid"),
    P("clusterid", "uuid"),
    P("type", "string", description="Routing (the only type Strato has)"),
    P("state", "string"),
    P("resourcestate", "string"),
    P("hypervisor", "string"),
    item="host",
    action="host.list",
    admin=True,
    response=("id", "name", "state", "resourcestate", "type", "zoneid", "clusterid"),
)
async def list_hosts(call: Call) -> dict[str, Any]:
    filters = [(_ZONE, call["zoneid"])] if call.get("zoneid") else []
    for param, column in (("podid", "t.pod_id"), ("clusterid", "t.cluster_id")):
        if call.get(param):
            filters.append((f"{column} = {{}}", call[param]))
    if call.get("state"):
        filters.append(("lower(t.status) = lower({})", call["state"]))
    if call.get("resourcestate"):
        filters.append(("lower(t.resource_state) = lower({})", call["resourcestate"]))
    if call.get("hypervisor"):
        filters.append(("lower(t.hypervisor) = lower({})", call["hypervisor"]))
    if call.get("type") and call["type"].lower() != "routing":
        return {}
    return await answer_list(call, fv.HOSTS, "host", filters=filters, owned=False)


@command(
    "listStoragePools",
    "Lists primary storage pools",
    *COMMON,
    ZONE_ID,
    P("podid", "uuid"),
    P("clusterid", "uuid"),
    P("scope", "string"),
    item="storagepool",
    action="storage-pool.list",
    admin=True,
    response=("id", "name", "zoneid", "clusterid", "scope", "state", "disksizetotal"),
)
async def list_storage_pools(call: Call) -> dict[str, Any]:
    filters = [(_ZONE, call["zoneid"])] if call.get("zoneid") else []
    if call.get("clusterid"):
        filters.append(("t.cluster_id = {}", call["clusterid"]))
    if call.get("scope"):
        filters.append(("lower(t.scope) = lower({})", call["scope"]))
    return await answer_list(call, fv.STORAGE_POOLS, "storagepool", filters=filters, owned=False)


@command(
    "listServiceOfferings",
    "Lists service offerings",
    *COMMON,
    P("virtualmachineid", "uuid", description="offerings the VM may be scaled to"),
    P("issystem", "boolean"),
    P("zoneid", "uuid"),
    item="serviceoffering",
    action="service-offering.list",
    response=("id", "name", "displaytext", "cpunumber", "cpuspeed", "memory"),
)
async def list_service_offerings(call: Call) -> dict[str, Any]:
    if call.get("issystem"):
        return {}
    return await answer_list(call, v.SERVICE_OFFERINGS, "serviceoffering", owned=False)


@command(
    "listDiskOfferings",
    "Lists disk offerings",
    *COMMON,
    P("zoneid", "uuid"),
    item="diskoffering",
    action="disk-offering.list",
    response=("id", "name", "displaytext", "disksize", "iscustomized"),
)
async def list_disk_offerings(call: Call) -> dict[str, Any]:
    return await answer_list(call, v.DISK_OFFERINGS, "diskoffering", owned=False)


OS_TYPES = (
    "Other Linux (64-bit)",
    "Other Linux (32-bit)",
    "Debian GNU/Linux 12 (64-bit)",
    "Debian GNU/Linux 11 (64-bit)",
    "Ubuntu 24.04 LTS",
    "Ubuntu 22.04 LTS",
    "CentOS 8",
    "Rocky Linux 9",
    "Windows Server 2022 (64-bit)",
    "Other (64-bit)",
)


def os_type_name(os_type_id: Any) -> str | None:
    """The OS type of an id ``listOsTypes`` showed (or a name, as some clients send)."""
    for name in OS_TYPES:
        if render.os_type_id(name) == str(os_type_id) or name == str(os_type_id):
            return name
    return None


@command(
    "listOsTypes",
    "Lists the guest OS types templates are registered with",
    P("id", "uuid"),
    P("description", "string"),
    P("keyword", "string"),
    item="ostype",
    response=("id", "description", "oscategoryid"),
)
async def list_os_types(call: Call) -> dict[str, Any]:
    found = [
        {
            "id": render.os_type_id(name),
            "description": name,
            "name": name,
            "oscategoryid": render.os_type_id("category:" + name.split()[0]),
            "isuserdefined": False,
        }
        for name in OS_TYPES
        if (call.get("id") is None or render.os_type_id(name) == str(call["id"]))
        and (call.get("description") is None or call["description"] == name)
        and (not call.get("keyword") or call["keyword"].lower() in name.lower())
    ]
    return {"count": len(found), "ostype": found} if found else {}


@command(
    "listHypervisors",
    "Lists the hypervisors of the cloud",
    P("zoneid", "uuid"),
    item="hypervisor",
    response=("name",),
)
async def list_hypervisors(call: Call) -> dict[str, Any]:
    return {"count": 1, "hypervisor": [{"name": "KVM"}]}


@command(
    "listCapabilities",
    "The cloud's capabilities and version",
    item="capability",
    response=("cloudstackversion", "securitygroupsenabled", "userpublictemplateenabled"),
)
async def list_capabilities(call: Call) -> dict[str, Any]:
    return {
        "capability": {
            "cloudstackversion": wire.VERSION,
            "securitygroupsenabled": True,
            "userpublictemplateenabled": False,
            "supportELB": "false",
            "projectinviterequired": False,
            "allowusercreateprojects": False,
            "customdiskofferingmaxsize": 1024,
            "customdiskofferingminsize": 1,
            "kvmsnapshotenabled": True,
            "allowuserviewdestroyedvm": True,
            "allowuserexpungerecovervm": True,
            "allowuserexpungerecovervolume": True,
            "dynamicrolesenabled": True,
            "apilimitinterval": 1,
            "apilimitmax": 0,
            "sharedfsvmmincpucount": 1,
        }
    }


@command(
    "listApis",
    "Lists the API commands, with their parameters and response fields",
    P("name", "string", description="one command"),
    item="api",
    response=("name", "description", "isasync", "params", "response"),
)
async def list_apis(call: Call) -> dict[str, Any]:
    admin = call.ctx.caller.scope == "admin" and call.ctx.caller.owners is None
    wanted = (call.get("name") or "").lower()
    apis = [
        registry.api_entry(cmd)
        for key, cmd in sorted(registry.REGISTRY.items())
        if (admin or not cmd.admin) and (not wanted or key == wanted)
    ]
    if wanted and not apis:
        raise wire.param_error(f"API {call['name']} does not exist")
    return {"count": len(apis), "api": apis}
