"""Security groups and their rules (CloudStack's createSecurityGroup,
authorizeSecurityGroupIngress/Egress, revokeSecurityGroup*)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.accepted import operation_header
from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.api.schemas.common import Filter, ListPage, Name
from strato.commands import security_groups as commands
from strato.domain.network.models import SecurityGroup, SecurityGroupRule
from strato.schema import repository
from strato.schema.network.security_groups import GROUPS, RULES

router = APIRouter(tags=["security groups"])


class GroupFilter(Filter):
    owner: str | None = None
    name: Name | None = None


class RuleFilter(Filter):
    security_group_id: UUID | None = None


@router.get("/security-groups", response_model=ListPage[SecurityGroup], summary="List groups")
async def list_groups(db: DbDep, _: CallerDep, flt: Annotated[GroupFilter, Query()]) -> Any:
    return await list_response(db, GROUPS, flt)


@router.get("/security-groups/{id}", response_model=SecurityGroup, summary="A group")
async def get_group(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, GROUPS, id)


@router.post(
    "/security-groups",
    status_code=status.HTTP_201_CREATED,
    response_model=SecurityGroup,
    summary="Create a security group",
)
async def create_group(
    body: commands.SecurityGroupCreate, ctx: CommandsDep, response: Response
) -> Any:
    group = await commands.create_group(ctx, body)
    response.headers["Location"] = f"/api/v1/security-groups/{group.id}"
    return group


@router.delete(
    "/security-groups/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a group"
)
async def delete_group(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete_group(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/security-groups/{id}/rules",
    response_model=ListPage[SecurityGroupRule],
    summary="A group's rules",
)
async def list_rules(id: UUID, db: DbDep, _: CallerDep) -> Any:
    return await list_response(db, RULES, RuleFilter(security_group_id=id))


@router.post(
    "/security-groups/{id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=SecurityGroupRule,
    summary="Allow ingress to or egress from a group's VMs (applied by an operation)",
)
async def add_rule(
    id: UUID, body: commands.SecurityRuleCreate, ctx: CommandsDep, response: Response
) -> Any:
    rule, op = await commands.add_rule(ctx, id, body)
    response.headers.update(operation_header(op))
    return rule


@router.delete(
    "/security-group-rules/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a rule (applied by an operation)",
)
async def delete_rule(id: UUID, ctx: CommandsDep) -> Response:
    op = await commands.delete_rule(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=operation_header(op))
