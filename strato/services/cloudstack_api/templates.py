"""Templates and ISOs: list (by ``templatefilter``), register, copy, delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.commands import templates
from strato.commands.view import Accepted
from strato.services.cloudstack_api import jobs, render, wire
from strato.services.cloudstack_api.call import Call
from strato.services.cloudstack_api.catalog import os_type_name
from strato.services.cloudstack_api.lists import COMMON, answer_list
from strato.services.cloudstack_api.registry import P, command, uuids
from strato.services.cloudstack_api.schema import fabric_views as fv
from strato.services.cloudstack_api.schema import views as v

FILTERS = (
    "featured",
    "self",
    "selfexecutable",
    "sharedexecutable",
    "executable",
    "community",
    "all",
)
FIELDS = ("id", "name", "displaytext", "isready", "status", "zoneid", "ostypeid", "format")


async def _zone(call: Call) -> dict[str, Any] | None:
    if call.get("zoneid") is None:
        return None
    async with call.ctx.db.conn() as conn:
        name = await fv.zone_name(conn, call["zoneid"])
    return {"id": call["zoneid"], "name": name} if name is not None else None


async def _list(call: Call, iso: bool, which: str, item: str) -> dict[str, Any]:
    if which not in FILTERS:
        raise wire.param_error(f"{item}filter {which!r} is not one of {', '.join(FILTERS)}")
    filters: list[tuple[str, Any]] = [("(t.format = 'iso') = {}", iso)]
    if which == "featured":
        filters.append(("t.featured = {}", True))
    elif which in ("self", "selfexecutable", "sharedexecutable"):
        if call.ctx.caller.owners is not None:
            return {}  # accounts register no templates in Strato: none are their own
    elif which == "community":
        filters.append(("t.is_public AND NOT t.featured = {}", True))
    if call.ctx.caller.owners is not None:
        filters.append(("t.is_public = {}", True))
    if which in ("executable", "selfexecutable", "sharedexecutable", "featured") or not iso:
        filters.append(("t.state = ANY({}::text[])", ["Ready", "Downloading", "Registered"]))
    if call.get("zoneid") is not None:
        filters.append(("(t.zone_id = {0} OR t.zone_id IS NULL)", call["zoneid"]))
    zone = await _zone(call)

    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return render.template(row, zone)

    return await answer_list(call, v.TEMPLATES, item, filters=filters, owned=False, shape=shape)


@command(
    "listTemplates",
    "Lists templates",
    *COMMON,
    P("templatefilter", "string", required=True, description=", ".join(FILTERS)),
    P("zoneid", "uuid"),
    P("hypervisor", "string"),
    P("listall", "boolean"),
    P("isrecursive", "boolean"),
    P("account", "string"),
    P("domainid", "uuid"),
    item="template",
    action="template.list",
    response=FIELDS,
)
async def list_templates(call: Call) -> dict[str, Any]:
    return await _list(call, False, call["templatefilter"].lower(), "template")


@command(
    "listIsos",
    "Lists ISOs",
    *COMMON,
    P("isofilter", "string"),
    P("zoneid", "uuid"),
    P("bootable", "boolean"),
    P("isready", "boolean"),
    P("listall", "boolean"),
    item="iso",
    action="template.list",
    response=FIELDS,
)
async def list_isos(call: Call) -> dict[str, Any]:
    return await _list(call, True, (call.get("isofilter") or "executable").lower(), "iso")


_one = jobs.reader("Template", "template")(jobs.view_reader(v.TEMPLATES, render.template))


_REGISTER = (
    P("name", "string", required=True),
    P("displaytext", "string"),
    P("url", "string", required=True, max_length=2048),
    P("zoneid", "string", description="its zone (-1 or none: every zone)"),
    P("ostypeid", "uuid"),
    P("checksum", "string"),
    P("ispublic", "boolean"),
    P("isfeatured", "boolean"),
    P("hypervisor", "string"),
)


async def _register(call: Call, fmt: str, item: str) -> dict[str, Any]:
    os_type = "Other Linux (64-bit)"
    if call.get("ostypeid") is not None:
        found = os_type_name(call["ostypeid"])
        if found is None:
            raise wire.param_error(
                f"Invalid parameter ostypeid value={call['ostypeid']} due to incorrect long "
                "value format, or entity does not exist"
            )
        os_type = found
    checksum = call.get("checksum")
    if checksum and "}" not in checksum and len(checksum) == 32:
        checksum = "{md5}" + checksum
    zone = call.get("zoneid")
    zone_id = None if zone in (None, "", "-1") else uuids(call.cmd.name, "zoneid", [zone])[0]
    body = templates.TemplateCreate(
        name=call["name"],
        display_text=call.get("displaytext") or call["name"],
        zone_id=zone_id,
        format=fmt,
        os_type=os_type,
        url=call["url"],
        checksum=checksum or None,
        is_public=call.get("ispublic", call.ctx.caller.owners is None),
        featured=bool(call.get("isfeatured")),
    )
    made = await templates.register(call.ctx, body, None)
    tid = UUID(str(made.resource["id"])) if isinstance(made, Accepted) and made.resource else None
    shown = await _one(call, tid if tid is not None else made.id)  # type: ignore[union-attr]
    return {"count": 1, item: [shown]}


@command(
    "registerTemplate",
    "Registers a template from a URL (fetched by the template service) or a host path",
    *_REGISTER,
    P("format", "string", required=True, description="QCOW2, RAW or VHD"),
    item="template",
    action="template.register",
    response=FIELDS,
)
async def register_template(call: Call) -> dict[str, Any]:
    fmt = call["format"].lower()
    if fmt not in ("qcow2", "raw", "vhd"):
        raise wire.param_error(f"format {call['format']} is not supported (QCOW2, RAW or VHD)")
    return await _register(call, fmt, "template")


@command(
    "registerIso",
    "Registers an ISO",
    *_REGISTER,
    P("bootable", "boolean"),
    item="iso",
    action="template.register",
    response=FIELDS,
)
async def register_iso(call: Call) -> dict[str, Any]:
    return await _register(call, "iso", "iso")


@command(
    "copyTemplate",
    "Copies a template to another zone's image store",
    P("id", "uuid", required=True),
    P("destzoneid", "uuid", required=True),
    P("sourcezoneid", "uuid"),
    is_async=True,
    item="template",
    response=FIELDS,
)
async def copy_template(call: Call) -> dict[str, Any]:
    body = templates.TemplateCopy(zone_id=call["destzoneid"])
    accepted = await templates.copy(call.ctx, call["id"], body, None)
    return await call.job(accepted, "Template", call["id"])


async def _delete(call: Call) -> dict[str, Any]:
    accepted = await templates.delete(call.ctx, call["id"], None)
    return await call.job(accepted, "Template", call["id"], result={"success": True})


@command(
    "deleteTemplate",
    "Deletes a template",
    P("id", "uuid", required=True),
    P("zoneid", "uuid"),
    P("forced", "boolean"),
    is_async=True,
    response=("success",),
)
async def delete_template(call: Call) -> dict[str, Any]:
    return await _delete(call)


@command(
    "deleteIso",
    "Deletes an ISO",
    P("id", "uuid", required=True),
    P("zoneid", "uuid"),
    is_async=True,
    response=("success",),
)
async def delete_iso(call: Call) -> dict[str, Any]:
    return await _delete(call)
