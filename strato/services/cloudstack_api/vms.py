"""Virtual machines: each command a translation onto :mod:`strato.commands.compute`."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID, uuid4

from strato.commands import compute, vm_update
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import OWNED, answer_list
from strato.services.cloudstack_api.registry import P, command, uuids
from strato.services.cloudstack_api.schema import lookups
from strato.services.cloudstack_api.schema import views as v

VM = "virtualmachine"
VM_FIELDS = ("id", "name", "displayname", "state", "zoneid", "serviceofferingid", "nic")
ID = P("id", "uuid", required=True, description="the VM")
ACCOUNT = (
    P("account", "string", description="the account it is for (an admin's call, with domainid)"),
    P("domainid", "uuid", description="the domain of account"),
)


# A job's VM even once expunged (destroyVirtualMachine's result, with expunge=true).
_ANY_VM = dataclasses.replace(v.VMS, where="true")


read_vm = jobs.reader("VirtualMachine", VM)(jobs.view_reader(_ANY_VM, render.virtual_machine))


async def owner_of_request(call: Call) -> str:
    """The account a new resource is for: ``account`` (+ ``domainid``) when an admin
    names one, else the caller's own ('' lets the command decide)."""
    if call.get("account") is None:
        return ""
    domain = call.get("domainid") or getattr(call.principal, "domain_id", None)
    async with call.ctx.db.conn() as conn:
        found = await lookups.account_id(conn, call["account"], domain)
    owners = call.ctx.caller.owners
    if found is None or (owners is not None and str(found) not in owners):
        # one the caller may not act for is as unknown as a missing one
        raise wire.param_error(f"Unable to find account by name {call['account']} in the domain")
    return str(found)


@command(
    "listVirtualMachines",
    "Lists virtual machines",
    *OWNED,
    P("zoneid", "uuid"),
    P("state", "string"),
    P("templateid", "uuid"),
    P("serviceofferingid", "uuid"),
    P("hostid", "uuid"),
    P("networkid", "uuid"),
    P("keypair", "string"),
    P("details", "list"),
    item=VM,
    action="vm.list",
    response=VM_FIELDS,
)
async def list_virtual_machines(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    for param, column in (
        ("zoneid", "t.zone_id"),
        ("templateid", "t.template_id"),
        ("serviceofferingid", "t.service_offering_id"),
        ("hostid", "t.host_id"),
    ):
        if call.get(param) is not None:
            filters.append((f"{column} = {{}}", call[param]))
    if call.get("state"):
        state = call["state"]
        filters.append(
            ("lower(t.state) = lower({})", "Allocated" if state == "Starting" else state)
        )
    if call.get("networkid"):
        filters.append(
            (
                v.VM_ON_NETWORK,
                call["networkid"],
            )
        )
    if call.get("keypair"):
        filters.append(
            (
                v.VM_WITH_KEY_PAIR,
                call["keypair"],
            )
        )
    return await answer_list(call, v.VMS, VM, filters=filters)


async def _key_pairs(call: Call, owner: str) -> list[UUID]:
    names = list(call.get("keypairs") or [])
    if call.get("keypair"):
        names.insert(0, call["keypair"])
    if not names:
        return []
    async with call.ctx.db.conn() as conn:
        found = await lookups.key_pair_ids(conn, owner or call.account_id, names)
    missing = [n for n in names if n not in found]
    if missing:
        raise wire.param_error(f"A key pair with name '{missing[0]}' was not found")
    return [found[n] for n in dict.fromkeys(names)]


async def _groups(call: Call, owner: str) -> list[UUID]:
    ids = uuids(call.cmd.name, "securitygroupids", call.get("securitygroupids") or [])
    names = call.get("securitygroupnames") or []
    if names:
        async with call.ctx.db.conn() as conn:
            found = await lookups.security_group_ids(conn, owner or call.account_id, names)
        missing = [n for n in names if n not in found]
        if missing:
            raise wire.param_error(f"Unable to find security group by name {missing[0]}")
        ids += [found[n] for n in names]
    return ids


@command(
    "deployVirtualMachine",
    "Creates and (unless startvm=false) starts a virtual machine",
    P("zoneid", "uuid", required=True),
    P("serviceofferingid", "uuid", required=True),
    P("templateid", "uuid", required=True),
    P("name", "string", description="its host name (default: VM-<id>)"),
    P("displayname", "string"),
    P("networkids", "list", description="its networks, the first its default"),
    P("securitygroupids", "list"),
    P("securitygroupnames", "list"),
    P("affinitygroupids", "list"),
    P("keypair", "string"),
    P("keypairs", "list"),
    P("userdata", "string", max_length=43692),
    P("startvm", "boolean"),
    P("rootdisksize", "long", description="GiB"),
    P("hypervisor", "string", description="KVM (the only one)"),
    *ACCOUNT,
    is_async=True,
    item=VM,
    action="vm.deploy",
    response=VM_FIELDS,
)
async def deploy_virtual_machine(call: Call) -> dict[str, Any]:
    owner = await owner_of_request(call)
    name = call.get("name") or f"VM-{uuid4()}"
    body = compute.VmDeploy(
        name=name,
        display_name=call.get("displayname") or name,
        zone_id=call["zoneid"],
        service_offering_id=call["serviceofferingid"],
        template_id=call["templateid"],
        owner=owner,
        network_ids=uuids(call.cmd.name, "networkids", call.get("networkids") or []),
        security_group_ids=await _groups(call, owner),
        affinity_group_ids=uuids(
            call.cmd.name, "affinitygroupids", call.get("affinitygroupids") or []
        ),
        ssh_key_pair_ids=await _key_pairs(call, owner),
        user_data=call.get("userdata"),
        start=call.get("startvm", True),
        root_disk_size_gb=call.get("rootdisksize"),
    )
    accepted = await compute.deploy_vm(call.ctx, body, None)
    vm_id = UUID(str(accepted.resource["id"])) if accepted.resource else None
    return await call.job(accepted, "VirtualMachine", vm_id)


async def _verb(call: Call, verb: str, body: Any = None) -> dict[str, Any]:
    accepted = await compute.act_on_vm(call.ctx, call["id"], verb, body, None)
    return await call.job(accepted, "VirtualMachine", call["id"])


@command(
    "startVirtualMachine",
    "Starts a stopped VM",
    ID,
    P("hostid", "uuid"),
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def start_virtual_machine(call: Call) -> dict[str, Any]:
    return await _verb(call, "start")


@command(
    "stopVirtualMachine",
    "Stops a running VM",
    ID,
    P("forced", "boolean"),
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def stop_virtual_machine(call: Call) -> dict[str, Any]:
    return await _verb(call, "stop", compute.VmStop(force=bool(call.get("forced"))))


@command(
    "rebootVirtualMachine", "Reboots a running VM", ID, is_async=True, item=VM, response=VM_FIELDS
)
async def reboot_virtual_machine(call: Call) -> dict[str, Any]:
    return await _verb(call, "reboot")


@command(
    "destroyVirtualMachine",
    "Destroys a VM (recoverable until expunged; expunge=true: at once)",
    ID,
    P("expunge", "boolean"),
    P("volumeids", "list", description="not supported: detach data volumes first"),
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def destroy_virtual_machine(call: Call) -> dict[str, Any]:
    if call.get("volumeids"):
        raise wire.param_error(
            "volumeids is not supported: detach and delete the data volumes (deleteVolume)"
        )
    return await _verb(call, "destroy", compute.VmDestroy(expunge=bool(call.get("expunge"))))


@command(
    "expungeVirtualMachine", "Expunges a destroyed VM", ID, is_async=True, response=("success",)
)
async def expunge_virtual_machine(call: Call) -> dict[str, Any]:
    return await _verb(call, "expunge")


@command(
    "recoverVirtualMachine",
    "Recovers a destroyed VM (it comes back Stopped)",
    ID,
    item=VM,
    response=VM_FIELDS,
)
async def recover_virtual_machine(call: Call) -> dict[str, Any]:
    accepted = await compute.act_on_vm(call.ctx, call["id"], "recover", None, None)
    await jobs.wait(call, accepted)
    return {VM: await read_vm(call, call["id"])}


_SCALE = (ID, P("serviceofferingid", "uuid", required=True), P("details", "map"))


@command(
    "scaleVirtualMachine",
    "Changes a VM's service offering",
    *_SCALE,
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def scale_virtual_machine(call: Call) -> dict[str, Any]:
    return await _verb(
        call, "scale", compute.VmScale(service_offering_id=call["serviceofferingid"])
    )


@command(
    "changeServiceForVirtualMachine",
    "Changes a stopped VM's service offering",
    *_SCALE,
    item=VM,
    response=VM_FIELDS,
)
async def change_service(call: Call) -> dict[str, Any]:
    body = compute.VmScale(service_offering_id=call["serviceofferingid"])
    accepted = await compute.act_on_vm(call.ctx, call["id"], "scale", body, None)
    await jobs.wait(call, accepted)
    return {VM: await read_vm(call, call["id"])}


@command(
    "migrateVirtualMachine",
    "Moves a VM to another host of its cluster (live when running)",
    P("virtualmachineid", "uuid", required=True),
    P("hostid", "uuid"),
    P("storageid", "uuid", description="not supported: migrate its volumes (migrateVolume)"),
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def migrate_virtual_machine(call: Call) -> dict[str, Any]:
    if call.get("storageid"):
        raise wire.param_error("storageid is not supported here: use migrateVolume")
    vm_id = call["virtualmachineid"]
    accepted = await compute.act_on_vm(
        call.ctx, vm_id, "migrate", compute.VmMigrate(host_id=call.get("hostid")), None
    )
    return await call.job(accepted, "VirtualMachine", vm_id)


@command(
    "updateVirtualMachine",
    "Changes a VM's display name or user data",
    ID,
    P("displayname", "string"),
    P("userdata", "string", max_length=43692),
    P("name", "string", description="not supported: a VM's host name is fixed"),
    item=VM,
    response=VM_FIELDS,
)
async def update_virtual_machine(call: Call) -> dict[str, Any]:
    if call.get("name"):
        raise wire.param_error("a VM's name cannot be changed; change displayname")
    body = vm_update.VmUpdate(display_name=call.get("displayname"), user_data=call.get("userdata"))
    await vm_update.update_vm(call.ctx, call["id"], body)
    return {VM: await read_vm(call, call["id"])}


@command(
    "resetSSHKeyForVirtualMachine",
    "Replaces a stopped VM's SSH keys with key pairs' (read by the guest at its next boot)",
    ID,
    P("keypair", "string"),
    P("keypairs", "list"),
    *ACCOUNT,
    is_async=True,
    item=VM,
    response=VM_FIELDS,
)
async def reset_ssh_key(call: Call) -> dict[str, Any]:
    if not call.get("keypair") and not call.get("keypairs"):
        raise wire.param_error(
            "Unable to execute API command resetsshkeyforvirtualmachine due to missing "
            "parameter keypair"
        )
    async with call.ctx.db.conn() as conn:
        owner = await lookups.resource_owner(conn, "vms", call["id"]) or ""
    ids = await _key_pairs(call, owner)
    await vm_update.update_vm(call.ctx, call["id"], vm_update.VmUpdate(ssh_key_pair_ids=ids))
    shown = await read_vm(call, call["id"])
    return await call.job(None, "VirtualMachine", call["id"], result={VM: shown})
