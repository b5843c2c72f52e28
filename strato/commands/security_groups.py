"""Security group commands: groups of an owner, their ingress and egress rules. Each rule
change is recorded with an ApplySecurityGroup operation, in its own transaction, that
secures every port it concerns again, whole.

Refused with nothing changed: a tcp/udp rule without ports or an icmp/all one with
them, ports outside 1-65535 or descending, a CIDR that is not an IPv4 subnet, a rule
with both or neither of a CIDR and a remote group, a remote group of another owner, the
same rule twice, deleting a group with members or named by another group's rules, or
an owner's default group.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import Field, model_validator

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.operations import start
from strato.domain.fields import Name, Request, Text
from strato.domain.network import flows
from strato.domain.network.models import SecurityGroup, SecurityGroupRule
from strato.domain.network.payloads import SecurityGroupOpInput
from strato.domain.network.ranges import rule_ports, subnet
from strato.schema import repository
from strato.schema.network import security_groups
from strato.schema.network.security_groups import GROUPS, RULES


class SecurityGroupCreate(Request):
    name: Name
    description: Text = ""
    owner: Text = ""


class SecurityRuleCreate(Request):
    direction: Literal["ingress", "egress"] = "ingress"
    protocol: Literal["tcp", "udp", "icmp", "all"]
    start_port: int | None = Field(default=None, ge=1, le=65535)
    end_port: int | None = Field(default=None, ge=1, le=65535)
    cidr: str | None = None
    remote_group_id: UUID | None = None

    @model_validator(mode="after")
    def _checked(self) -> SecurityRuleCreate:
        self.end_port = rule_ports(self.protocol, self.start_port, self.end_port)
        if (self.cidr is None) == (self.remote_group_id is None):
            raise ValueError("a rule names a cidr or a remote_group_id (one of them)")
        if self.cidr is not None:
            self.cidr = subnet(self.cidr)
        return self


async def create_group(ctx: CommandContext, body: SecurityGroupCreate) -> SecurityGroup:
    await ctx.authorize(Action("security-group.create", "security_group"))
    body = ctx.owned_by_caller(body)
    async with ctx.db.tx() as conn:
        group: SecurityGroup = await repository.insert(
            conn, GROUPS, {**body.model_dump(), "id": uuid4()}
        )
        return group


async def delete_group(ctx: CommandContext, group_id: UUID) -> None:
    await ctx.authorize(Action("security-group.delete", "security_group", group_id))
    async with ctx.db.tx() as conn:
        await security_groups.delete_group(conn, await security_groups.lock(conn, group_id))


async def _apply(ctx: CommandContext, conn: Any, group: SecurityGroup) -> Any:
    intake = Intake(None, None, ctx.settings.orchestration_queue)
    op_id = uuid4()
    return await intake.record(
        conn,
        operation_id=op_id,
        resource_type="security_group",
        resource_id=group.id,
        verb="apply",
        workflow_type=flows.APPLY_SECURITY_GROUP.name,
        input=SecurityGroupOpInput(group_id=group.id, operation_id=op_id),
        attributes={"StratoOwner": group.owner},
    )


async def add_rule(
    ctx: CommandContext, group_id: UUID, body: SecurityRuleCreate
) -> tuple[SecurityGroupRule, UUID]:
    """The rule, and the ApplySecurityGroup operation that puts it on the ports."""
    await ctx.authorize(Action("security-group.authorize", "security_group", group_id))
    async with ctx.db.tx() as conn:
        group = await security_groups.lock(conn, group_id)
        rule = await security_groups.add_rule(conn, group, body.model_dump())
        op = await _apply(ctx, conn, group)
    await start(ctx.db, ctx.temporal, op, fresh=True)
    return rule, op.id


async def delete_rule(ctx: CommandContext, rule_id: UUID) -> UUID:
    await ctx.authorize(Action("security-group.revoke", "security_group_rule", rule_id))
    async with ctx.db.tx() as conn:
        rule: SecurityGroupRule = await repository.get(conn, RULES, rule_id)
        group = await security_groups.lock(conn, rule.security_group_id)
        await repository.delete(conn, RULES, rule_id)
        op = await _apply(ctx, conn, group)
    await start(ctx.db, ctx.temporal, op, fresh=True)
    op_id: UUID = op.id
    return op_id
