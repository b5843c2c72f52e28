"""SSH key pairs, resource tags, events, NICs and a VM's user data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.commands import ssh_keys
from strato.commands.auth import Action
from strato.domain.errors import Forbidden, NotFound
from strato.schema import owned
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import OWNED, PAGING, answer_list
from strato.services.cloudstack_api.registry import P, command, uuids
from strato.services.cloudstack_api.schema import fabric_views as fv
from strato.services.cloudstack_api.schema import jobs as store
from strato.services.cloudstack_api.schema import lookups
from strato.services.cloudstack_api.schema import views as v
from strato.services.cloudstack_api.vms import ACCOUNT, owner_of_request, read_vm

KEY_FIELDS = ("id", "name", "fingerprint", "account", "domainid")
_read_pair = jobs.view_reader(v.SSH_KEY_PAIRS, render.ssh_key_pair)


@command(
    "listSSHKeyPairs",
    "Lists SSH key pairs",
    *OWNED,
    P("fingerprint", "string"),
    item="sshkeypair",
    action="ssh-key-pair.list",
    response=KEY_FIELDS,
)
async def list_ssh_key_pairs(call: Call) -> dict[str, Any]:
    filters = (
        [("t.fingerprint = lower({})", call["fingerprint"])] if call.get("fingerprint") else []
    )
    return await answer_list(call, v.SSH_KEY_PAIRS, "sshkeypair", filters=filters)


async def _pair(call: Call, name: str, public_key: str | None) -> dict[str, Any]:
    body = ssh_keys.SshKeyPairCreate(
        name=name, owner=await owner_of_request(call), public_key=public_key, type="rsa"
    )
    made = await ssh_keys.create(call.ctx, body)
    shown = await _read_pair(call, made.id) or {}  # as listed: its owner's account, domain
    if made.private_key is not None:
        shown["privatekey"] = made.private_key
    return {"keypair": shown}


@command(
    "createSSHKeyPair",
    "Makes an SSH key pair (its private key shown once)",
    P("name", "string", required=True),
    *ACCOUNT,
    item="keypair",
    action="ssh-key-pair.create",
    response=(*KEY_FIELDS, "privatekey"),
)
async def create_ssh_key_pair(call: Call) -> dict[str, Any]:
    return await _pair(call, call["name"], None)


@command(
    "registerSSHKeyPair",
    "Registers a public key as an SSH key pair",
    P("name", "string", required=True),
    P("publickey", "string", required=True, max_length=16384),
    *ACCOUNT,
    item="keypair",
    action="ssh-key-pair.create",
    response=KEY_FIELDS,
)
async def register_ssh_key_pair(call: Call) -> dict[str, Any]:
    return await _pair(call, call["name"], call["publickey"])


@command(
    "deleteSSHKeyPair",
    "Deletes an SSH key pair",
    P("name", "string", required=True),
    *ACCOUNT,
    response=("success",),
)
async def delete_ssh_key_pair(call: Call) -> dict[str, Any]:
    owner = await owner_of_request(call)
    async with call.ctx.db.conn() as conn:
        found = await lookups.key_pair_by_name(
            conn, [owner] if owner else call.owners(), call["name"]
        )
    if found is None:
        raise wire.param_error(f"A key pair with name '{call['name']}' does not exist for account")
    await ssh_keys.delete(call.ctx, found["id"])
    return wire.SUCCESS


# -- tags ------------------------------------------------------------------------

# CloudStack's resource types (matched case-insensitively) and Strato's.
TAGGABLE = {
    "uservm": "vm",
    "volume": "volume",
    "snapshot": "snapshot",
    "vmsnapshot": "vm_snapshot",
    "network": "network",
    "publicipaddress": "public_ip",
    "portforwardingrule": "port_forwarding_rule",
    "firewallrule": "firewall_rule",
    "securitygroup": "security_group",
    "template": "template",
    "iso": "template",
    "sshkeypair": "ssh_key_pair",
}


async def _tag_targets(call: Call) -> tuple[str, list[UUID]]:
    kind = call["resourcetype"]
    ours = TAGGABLE.get(kind.lower())
    if ours is None:
        raise wire.param_error(
            f"resourcetype {kind} cannot be tagged (one of: UserVm, Volume, Snapshot, "
            "VMSnapshot, Network, PublicIpAddress, PortForwardingRule, FirewallRule, "
            "SecurityGroup, Template, ISO, SSHKeyPair)"
        )
    # Tagging is a change of the resource: its kind's role rule decides (``vm.tag``, a
    # write, which a read-only role does not have).
    await call.ctx.authorizer.authorize(call.ctx.caller, Action(f"{ours}.tag", ours))
    ids = uuids(call.cmd.name, "resourceids", call["resourceids"])
    owners = call.ctx.caller.owners
    table = _table(kind)
    async with call.ctx.db.conn() as conn:
        for rid in ids:
            exists = await lookups.resource_owner(conn, table, rid) is not None
            mine = owners is None or await owned.visible_to(conn, ours, rid, owners, write=True)
            if not exists or not mine:
                raise NotFound(f"{kind} {rid} does not exist", id=str(rid))
            if owners is not None and table == "templates":
                raise Forbidden(
                    f"templates are the cloud's: {call.ctx.caller.name} cannot tag them"
                )
    return kind, ids


def _table(kind: str) -> str:
    spec = owned.spec_for(TAGGABLE[kind.lower()])
    return spec.table if spec is not None else "templates"


@command(
    "createTags",
    "Tags resources",
    P("resourceids", "list", required=True, max_length=4096),
    P("resourcetype", "string", required=True),
    P("tags", "map", required=True),
    P("customer", "string"),
    is_async=True,
    response=("success",),
)
async def create_tags(call: Call) -> dict[str, Any]:
    kind, ids = await _tag_targets(call)
    tags: dict[str, str] = {}
    for entry in call["tags"]:
        key = entry.get("key", "")
        if not key or len(key) > 255 or len(entry.get("value", "")) > 255:
            raise wire.param_error("each tag needs a key (1-255 characters) and a value (<= 255)")
        tags[key] = entry.get("value", "")
    async with call.ctx.db.tx() as conn:
        for rid in ids:  # each resource's tags are its owner's
            owner = await lookups.resource_owner(conn, _table(kind), rid)
            await store.add_tags(conn, kind, [rid], tags, owner or "")
    return await call.job(None, kind, ids[0], result={"success": True})


@command(
    "deleteTags",
    "Removes tags from resources (all of them when none are named)",
    P("resourceids", "list", required=True, max_length=4096),
    P("resourcetype", "string", required=True),
    P("tags", "map"),
    is_async=True,
    response=("success",),
)
async def delete_tags(call: Call) -> dict[str, Any]:
    kind, ids = await _tag_targets(call)
    named: dict[str, str | None] = {
        e["key"]: e.get("value") for e in call.get("tags") or [] if e.get("key")
    }
    async with call.ctx.db.tx() as conn:
        await store.remove_tags(conn, ids, named)
    return await call.job(None, kind, ids[0], result={"success": True})


@command(
    "listTags",
    "Lists resource tags",
    *PAGING,
    P("resourceid", "uuid"),
    P("resourcetype", "string"),
    P("key", "string"),
    P("value", "string"),
    P("listall", "boolean"),
    item="tag",
    response=("key", "value", "resourcetype", "resourceid"),
)
async def list_tags(call: Call) -> dict[str, Any]:
    offset, limit = call.page()
    filters = {
        "resource_type": call.get("resourcetype"),
        "key": call.get("key"),
        "value": call.get("value"),
        "resource_id": call.get("resourceid"),
    }
    async with call.ctx.db.conn() as conn:
        count, rows = await store.list_tags(conn, call.owners(), filters, offset, limit)
    if not count:
        return {}
    return {
        "count": count,
        "tag": [
            {
                "key": r["key"],
                "value": r["value"],
                "resourcetype": r["resource_type"],
                "resourceid": str(r["resource_id"]),
            }
            for r in rows
        ],
    }


# -- events, NICs, user data -----------------------------------------------------


@command(
    "listEvents",
    "Lists events, newest first",
    *OWNED,
    P("type", "string"),
    P("level", "string"),
    P("startdate", "date"),
    P("enddate", "date"),
    P("resourceid", "uuid"),
    item="event",
    action="event.list",
    response=("id", "type", "level", "description", "created"),
)
async def list_events(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("resourceid") is not None:
        filters.append(("t.resource_id = {}", call["resourceid"]))
    if call.get("type"):
        filters.append(("upper(t.type) = upper('strato.' || {})", call["type"]))
    if call.get("startdate") is not None:
        filters.append(("t.time >= {}", call["startdate"]))
    if call.get("enddate") is not None:
        filters.append(("t.time <= {}", call["enddate"]))
    level = (call.get("level") or "").upper()
    if level == "ERROR":
        filters.append(("(t.payload ? 'error') = {}", True))
    elif level == "INFO":
        filters.append(("(t.payload ? 'error') = {}", False))
    elif level:
        return {}  # Strato's events are INFO or ERROR
    return await answer_list(call, fv.EVENTS, "event", filters=filters)


@command(
    "listNics",
    "Lists a VM's NICs",
    P("virtualmachineid", "uuid", required=True),
    P("nicid", "uuid"),
    P("networkid", "uuid"),
    *PAGING,
    item="nic",
    action="vm.list",
    response=("id", "networkid", "ipaddress", "macaddress", "isdefault"),
)
async def list_nics(call: Call) -> dict[str, Any]:
    vm = await read_vm(call, call["virtualmachineid"])
    if vm is None or not await _visible(call, call["virtualmachineid"]):
        raise NotFound("vm does not exist", id=str(call["virtualmachineid"]))
    nics = [
        {**n, "virtualmachineid": vm["id"], "secondaryip": []}
        for n in vm.get("nic", [])
        if (call.get("nicid") is None or n["id"] == str(call["nicid"]))
        and (call.get("networkid") is None or n["networkid"] == str(call["networkid"]))
    ]
    return {"count": len(nics), "nic": nics} if nics else {}


async def _visible(call: Call, vm_id: UUID) -> bool:
    owners = call.ctx.caller.owners
    if owners is None:
        return True
    async with call.ctx.db.conn() as conn:
        return await owned.visible_to(conn, "vm", vm_id, owners)


@command(
    "getVirtualMachineUserData",
    "A VM's user data (base64)",
    P("virtualmachineid", "uuid", required=True),
    item="virtualmachineuserdata",
    action="vm.get",
    response=("virtualmachineid", "userdata"),
)
async def get_user_data(call: Call) -> dict[str, Any]:
    vm_id = call["virtualmachineid"]
    if not await _visible(call, vm_id):
        raise NotFound("vm does not exist", id=str(vm_id))
    async with call.ctx.db.conn() as conn:
        data = await lookups.user_data(conn, vm_id)
    if data is None:
        raise NotFound("vm does not exist", id=str(vm_id))
    return {"virtualmachineuserdata": {"virtualmachineid": str(vm_id), "userdata": data[0] or ""}}
