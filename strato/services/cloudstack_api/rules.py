"""Static NAT, port forwarding, firewall and egress rules, and security groups."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from strato.commands import network as net
from strato.commands import security_groups as sg
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.lists import OWNED, answer_list
from strato.services.cloudstack_api.registry import P, command
from strato.services.cloudstack_api.schema import lookups
from strato.services.cloudstack_api.schema import storage_views as sv
from strato.services.cloudstack_api.schema import views as v
from strato.services.cloudstack_api.vms import ACCOUNT, owner_of_request

ID = P("id", "uuid", required=True)
read_group = jobs.reader("SecurityGroup", "securitygroup")(
    jobs.view_reader(sv.SECURITY_GROUPS, render.security_group)
)


def _cidrs(call: Call) -> list[str]:
    return list(call.get("cidrlist") or []) or ["0.0.0.0/0"]


@command(
    "enableStaticNat",
    "Makes a public IP address a VM's (one to one NAT)",
    P("ipaddressid", "uuid", required=True),
    P("virtualmachineid", "uuid", required=True),
    P("networkid", "uuid"),
    P("vmguestip", "string"),
    response=("success",),
)
async def enable_static_nat(call: Call) -> dict[str, Any]:
    body = net.StaticNatEnable(vm_id=call["virtualmachineid"])
    await net.static_nat(call.ctx, call["ipaddressid"], body)  # its router applies it
    return wire.SUCCESS


@command(
    "disableStaticNat",
    "Ends a public IP address's static NAT",
    P("ipaddressid", "uuid", required=True),
    is_async=True,
    response=("success",),
)
async def disable_static_nat(call: Call) -> dict[str, Any]:
    _, op = await net.static_nat(call.ctx, call["ipaddressid"], None)
    return await jobs.applied(call, op, "IpAddress", call["ipaddressid"])


@command(
    "listIpForwardingRules",
    "Lists static NAT rules",
    *OWNED,
    P("ipaddressid", "uuid"),
    P("virtualmachineid", "uuid"),
    item="ipforwardingrule",
    action="public-ip.list",
    response=("id", "ipaddress", "virtualmachineid"),
)
async def list_ip_forwarding_rules(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("ipaddressid") is not None:
        filters.append(("t.id = {}", call["ipaddressid"]))
    if call.get("virtualmachineid") is not None:
        filters.append(("t.static_nat_vm_id = {}", call["virtualmachineid"]))
    return await answer_list(call, sv.STATIC_NATS, "ipforwardingrule", filters=filters)


@command(
    "listPortForwardingRules",
    "Lists port forwarding rules",
    *OWNED,
    P("ipaddressid", "uuid"),
    P("networkid", "uuid"),
    item="portforwardingrule",
    action="public-ip.list",
    response=("id", "ipaddressid", "protocol", "publicport", "privateport", "virtualmachineid"),
)
async def list_port_forwarding_rules(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("ipaddressid") is not None:
        filters.append(("t.public_ip_id = {}", call["ipaddressid"]))
    if call.get("networkid") is not None:
        filters.append(("t.network_id = {}", call["networkid"]))
    return await answer_list(call, sv.PORT_FORWARDS, "portforwardingrule", filters=filters)


@command(
    "createPortForwardingRule",
    "Forwards a public IP address's ports to a VM",
    P("ipaddressid", "uuid", required=True),
    P("protocol", "string", required=True),
    P("publicport", "integer", required=True),
    P("privateport", "integer", required=True),
    P("virtualmachineid", "uuid", required=True),
    P("publicendport", "integer"),
    P("privateendport", "integer"),
    P("openfirewall", "boolean", description="accepted; Strato opens no firewall by itself"),
    P("vmguestip", "string"),
    P("networkid", "uuid"),
    P("cidrlist", "list"),
    is_async=True,
    item="portforwardingrule",
    response=("id", "ipaddressid", "protocol", "publicport", "privateport"),
)
async def create_port_forwarding_rule(call: Call) -> dict[str, Any]:
    body = net.PortForwardCreate(
        vm_id=call["virtualmachineid"],
        protocol=call["protocol"].lower(),
        public_start=call["publicport"],
        public_end=call.get("publicendport"),
        private_start=call["privateport"],
        private_end=call.get("privateendport"),
    )
    rule, op = await net.add_port_forward(call.ctx, call["ipaddressid"], body)
    return await jobs.applied(call, op, "PortForwardingRule", rule.id)


@command(
    "deletePortForwardingRule",
    "Deletes a port forwarding rule",
    ID,
    is_async=True,
    response=("success",),
)
async def delete_port_forwarding_rule(call: Call) -> dict[str, Any]:
    op = await net.delete_rule(call.ctx, "port_forwarding_rule", call["id"])
    return await jobs.applied(call, op, "PortForwardingRule", call["id"])


@command(
    "listFirewallRules",
    "Lists a public IP address's firewall (ingress) rules",
    *OWNED,
    P("ipaddressid", "uuid"),
    P("networkid", "uuid"),
    item="firewallrule",
    action="public-ip.list",
    response=("id", "ipaddressid", "protocol", "startport", "endport", "cidrlist"),
)
async def list_firewall_rules(call: Call) -> dict[str, Any]:
    filters = [("t.public_ip_id = {}", call["ipaddressid"])] if call.get("ipaddressid") else []
    return await answer_list(call, sv.FIREWALL_RULES, "firewallrule", filters=filters)


_RULE = (
    P("protocol", "string", required=True),
    P("startport", "integer"),
    P("endport", "integer"),
    P("cidrlist", "list"),
    P("icmptype", "integer"),
    P("icmpcode", "integer"),
)


@command(
    "createFirewallRule",
    "Opens a public IP address's ports",
    P("ipaddressid", "uuid", required=True),
    *_RULE,
    P("type", "string"),
    is_async=True,
    item="firewallrule",
    response=("id", "protocol", "startport", "endport", "cidrlist"),
)
async def create_firewall_rule(call: Call) -> dict[str, Any]:
    body = net.FirewallRuleCreate(
        protocol=call["protocol"].lower(),
        start_port=call.get("startport"),
        end_port=call.get("endport"),
        cidrs=_cidrs(call),
    )
    rule, op = await net.add_firewall_rule(call.ctx, call["ipaddressid"], body)
    return await jobs.applied(call, op, "FirewallRule", rule.id)


@command("deleteFirewallRule", "Deletes a firewall rule", ID, is_async=True, response=("success",))
async def delete_firewall_rule(call: Call) -> dict[str, Any]:
    op = await net.delete_rule(call.ctx, "firewall_rule", call["id"])
    return await jobs.applied(call, op, "FirewallRule", call["id"])


@command(
    "listEgressFirewallRules",
    "Lists a network's egress rules",
    *OWNED,
    P("networkid", "uuid"),
    item="firewallrule",
    action="network.list",
    response=("id", "networkid", "protocol", "startport", "endport", "cidrlist"),
)
async def list_egress_rules(call: Call) -> dict[str, Any]:
    filters = [("t.network_id = {}", call["networkid"])] if call.get("networkid") else []
    return await answer_list(
        call, sv.EGRESS_RULES, "firewallrule", filters=filters, shape=render.firewall_rule
    )


@command(
    "createEgressFirewallRule",
    "Adds an egress rule to a network",
    P("networkid", "uuid", required=True),
    *_RULE,
    P("type", "string"),
    is_async=True,
    item="firewallrule",
    response=("id", "networkid", "protocol", "startport", "endport", "cidrlist"),
)
async def create_egress_rule(call: Call) -> dict[str, Any]:
    body = net.EgressRuleCreate(
        protocol=call["protocol"].lower(),
        start_port=call.get("startport"),
        end_port=call.get("endport"),
        cidrs=_cidrs(call),
    )
    rule, op = await net.add_egress_rule(call.ctx, call["networkid"], body)
    return await jobs.applied(call, op, "EgressRule", rule.id)


@command(
    "deleteEgressFirewallRule", "Deletes an egress rule", ID, is_async=True, response=("success",)
)
async def delete_egress_rule(call: Call) -> dict[str, Any]:
    op = await net.delete_egress_rule(call.ctx, call["id"])
    return await jobs.applied(call, op, "EgressRule", call["id"])


@command(
    "listSecurityGroups",
    "Lists security groups",
    *OWNED,
    P("securitygroupname", "string"),
    P("virtualmachineid", "uuid"),
    item="securitygroup",
    action="security-group.list",
    response=("id", "name", "description", "ingressrule", "egressrule"),
)
async def list_security_groups(call: Call) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if call.get("securitygroupname"):
        filters.append(("t.name = {}", call["securitygroupname"]))
    if call.get("virtualmachineid") is not None:
        filters.append(
            (
                v.GROUP_OF_VM,
                call["virtualmachineid"],
            )
        )
    return await answer_list(call, sv.SECURITY_GROUPS, "securitygroup", filters=filters)


@command(
    "createSecurityGroup",
    "Creates a security group",
    P("name", "string", required=True),
    P("description", "string"),
    *ACCOUNT,
    item="securitygroup",
    response=("id", "name", "description"),
)
async def create_security_group(call: Call) -> dict[str, Any]:
    body = sg.SecurityGroupCreate(
        name=call["name"],
        description=call.get("description") or "",
        owner=await owner_of_request(call),
    )
    group = await sg.create_group(call.ctx, body)
    return {"securitygroup": await read_group(call, group.id)}


async def _group_id(call: Call) -> UUID:
    if call.get("securitygroupid") is not None:
        found: UUID = call["securitygroupid"]
        return found
    name = call.get("securitygroupname") or call.get("name")
    if not name:
        raise wire.param_error("Either securitygroupid or securitygroupname must be given")
    owner = await owner_of_request(call) or call.account_id
    async with call.ctx.db.conn() as conn:
        found_id = await lookups.security_group_by_name(conn, owner, name)
    if found_id is None:
        raise wire.param_error(f"Unable to find security group by name {name}")
    return found_id


@command(
    "deleteSecurityGroup",
    "Deletes a security group no VM uses",
    P("id", "uuid"),
    P("name", "string"),
    *ACCOUNT,
    response=("success",),
)
async def delete_security_group(call: Call) -> dict[str, Any]:
    group = call.get("id")
    if group is None:
        call.args["securitygroupname"] = call.get("name")
        group = await _group_id(call)
    await sg.delete_group(call.ctx, group)
    return wire.SUCCESS


_AUTHORIZE = (
    P("securitygroupid", "uuid"),
    P("securitygroupname", "string"),
    P("protocol", "string"),
    P("startport", "integer"),
    P("endport", "integer"),
    P("cidrlist", "list"),
    P("icmptype", "integer"),
    P("icmpcode", "integer"),
    P("usersecuritygrouplist", "map"),
    *ACCOUNT,
)


async def _authorize(call: Call, direction: str) -> dict[str, Any]:
    group = await _group_id(call)
    protocol = (call.get("protocol") or "all").lower()
    remote = []
    for entry in call.get("usersecuritygrouplist") or []:
        owner = await owner_of_request(call) or call.account_id
        if entry.get("account"):  # another account's group: one the caller may act for
            named = await owner_of_request(
                dataclasses.replace(call, args={**call.args, "account": entry["account"]})
            )
            owner = named or owner
        async with call.ctx.db.conn() as conn:
            found = await lookups.security_group_by_name(conn, owner, entry.get("group", ""))
        if found is None:
            raise wire.param_error(f"Unable to find security group {entry.get('group')}")
        remote.append(found)
    targets: list[dict[str, Any]] = [{"remote_group_id": r} for r in remote]
    if not remote or call.get("cidrlist"):
        targets += [{"cidr": c} for c in _cidrs(call)]
    op, made = None, set()
    for target in targets:
        body = sg.SecurityRuleCreate(
            direction=direction,
            protocol=protocol,
            start_port=call.get("startport"),
            end_port=call.get("endport"),
            **target,
        )
        rule, op = await sg.add_rule(call.ctx, group, body)
        made.add(str(rule.id))
    # The job answers the group with the rules this call made only (Terraform's
    # provider reads the new rule's id from it).
    shown = await read_group(call, group) or {}
    key = f"{direction}rule"
    shown[key] = [r for r in shown.get(key, []) if r.get("ruleid") in made]
    return await call.job(op, "SecurityGroup", group, result={"securitygroup": shown})


@command(
    "authorizeSecurityGroupIngress",
    "Adds ingress rules to a security group",
    *_AUTHORIZE,
    is_async=True,
    item="securitygroup",
    response=("id", "name", "ingressrule"),
)
async def authorize_ingress(call: Call) -> dict[str, Any]:
    return await _authorize(call, "ingress")


@command(
    "authorizeSecurityGroupEgress",
    "Adds egress rules to a security group",
    *_AUTHORIZE,
    is_async=True,
    item="securitygroup",
    response=("id", "name", "egressrule"),
)
async def authorize_egress(call: Call) -> dict[str, Any]:
    return await _authorize(call, "egress")


@command(
    "revokeSecurityGroupIngress",
    "Removes an ingress rule",
    ID,
    is_async=True,
    response=("success",),
)
async def revoke_ingress(call: Call) -> dict[str, Any]:
    await _direction(call, "ingress")
    op = await sg.delete_rule(call.ctx, call["id"])
    return await call.job(op, "SecurityGroup", None)


@command(
    "revokeSecurityGroupEgress", "Removes an egress rule", ID, is_async=True, response=("success",)
)
async def revoke_egress(call: Call) -> dict[str, Any]:
    await _direction(call, "egress")
    op = await sg.delete_rule(call.ctx, call["id"])
    return await call.job(op, "SecurityGroup", None)


async def _direction(call: Call, direction: str) -> None:
    """An ingress rule is revoked as one, an egress rule as one."""
    async with call.ctx.db.conn() as conn:
        found = await lookups.rule_direction(conn, call["id"])
    if found is not None and found != direction:
        raise wire.param_error(
            f"rule {call['id']} is an {found} rule: revoke it with "
            f"revokeSecurityGroup{found.capitalize()}"
        )
