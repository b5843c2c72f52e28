"""What every list command shares: its common parameters and its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from strato.services.cloudstack_api import render
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.registry import P, uuids
from strato.services.cloudstack_api.schema.views import (
    Filter,
    View,
    account_named,
    in_domain,
    listing,
)

PAGING = (
    P("page", "integer", description="the page, from 1"),
    P("pagesize", "integer", description="items per page (at most 500; -1: 500)"),
    P("keyword", "string", description="a part of the name"),
)
COMMON = (
    P("id", "uuid", description="the resource's id"),
    P("ids", "list", description="resource ids, comma-separated", max_length=4096),
    P("name", "string", description="the exact name"),
    *PAGING,
)
OWNED = (
    *COMMON,
    P("listall", "boolean", description="every resource the caller may see, not only its own"),
    P("account", "string", description="an account's resources (with domainid)"),
    P("domainid", "uuid", description="a domain's resources"),
    P("isrecursive", "boolean", description="with listall: the domain's subdomains too"),
    P("projectid", "string", description="-1 (every project) or none: Strato has no projects"),
    P("tags", "map", description="resource tags, tags[0].key=...&tags[0].value=..."),
)


def ids_of(call: Call) -> list[UUID] | None:
    found: list[UUID] = []
    if call.get("id") is not None:
        found.append(call["id"])
    if call.get("ids"):
        found += uuids(call.cmd.name, "ids", call["ids"])
    return found or None


async def answer_list(
    call: Call,
    view: View,
    item: str,
    *,
    filters: list[Filter] | None = None,
    owned: bool = True,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``{"count": total, item: [page]}``, or ``{}`` when nothing matches."""
    offset, limit = call.page()
    if call.get("projectid") not in (None, "-1"):
        return {}  # a project's resources: Strato has no projects
    owners = call.owners() if owned else None
    extra = list(filters or []) + (account_filters(view, call) if owned else [])
    async with call.ctx.db.conn() as conn:
        count, rows = await listing(
            conn,
            view,
            owners=owners,
            filters=extra,
            offset=offset,
            limit=limit,
            ids=ids_of(call),
            name=call.get("name"),
            keyword=call.get("keyword"),
            tags=call.get("tags") or None,
        )
    if not count:
        return {}
    if not rows:
        return {"count": count}  # a page past the end
    draw = shape or render.RENDERERS[item]
    return {"count": count, item: [draw(r) for r in rows]}


def account_filters(view: View, call: Call) -> list[Filter]:
    """``account`` (a name, in ``domainid`` or the caller's domain) and ``domainid``."""
    if view.owner is None:
        return []
    found: list[Filter] = []
    domain = call.get("domainid")
    if call.get("account") is not None:
        found.append((account_named(view.owner), call["account"]))
        if domain is None:  # an account is named within a domain: the caller's
            domain = getattr(call.principal, "domain_id", None)
    if domain is not None:
        found.append((in_domain(view.owner, bool(call.get("isrecursive"))), domain))
    return found
