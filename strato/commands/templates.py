"""Template commands: register (from a host path: Ready at once; from an http(s) URL: a
download by the template service), copy to another zone, delete.

Refused here, with nothing changed: a URL template without a zone or with a zone that has
no image store, a malformed checksum, a format the service cannot check (vhd), a copy to
a zone that has it, a delete while VMs use it or another operation holds it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, Field, model_validator
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.view import Accepted
from strato.domain.compute.models import Template
from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.domain.fields import Bytes, Name, Request, Text, Url
from strato.domain.ids import ORCHESTRATION_QUEUE
from strato.domain.states import TemplateState
from strato.domain.storage import flows
from strato.domain.storage.templates import (
    CachedCopy,
    CopyTemplateInput,
    DeleteTemplateInput,
    DownloadInput,
    EvictInput,
    ImportInput,
    RegisterTemplateInput,
    parse_checksum,
    template_key,
)
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.operations import OperationRecord
from strato.schema.storage import templates
from strato.schema.tables import TEMPLATES, ZONES
from strato.schema.transitions import TEMPLATE, transition


def _checksum(v: str | None) -> str | None:
    if v is not None:
        parse_checksum(v)
    return v


# ``<algo>:<hex>`` (or ``{SHA-256}<hex>``, or a bare digest), checked when parsed.
Checksum = Annotated[Text | None, AfterValidator(_checksum)]


class TemplateBoot(Request):
    """Direct kernel boot: files present on every host of the template's hypervisor."""

    kernel: Text | None = None
    initrd: Text | None = None
    cmdline: Text = ""

    @model_validator(mode="after")
    def _paths(self) -> TemplateBoot:
        for what, path in (("kernel", self.kernel), ("initrd", self.initrd)):
            if path is not None and not path.startswith("/"):
                raise ValueError(f"boot.{what} must be an absolute path on the hosts")
        if self.initrd and not self.kernel:
            raise ValueError("boot.initrd needs boot.kernel")
        return self


class TemplateCreate(Request):
    name: Name
    display_text: Text = ""
    zone_id: UUID | None = None
    format: Literal["qcow2", "raw", "vhd", "iso"] = "qcow2"
    os_type: Text = "Other Linux (64-bit)"
    url: Url = ""
    checksum: Checksum = None
    size_bytes: Bytes = 0
    # A URL template: the largest image (bytes fetched and virtual size) accepted.
    max_size_bytes: int | None = Field(default=None, gt=0)
    is_public: bool = True
    featured: bool = False
    boot: TemplateBoot = Field(default_factory=TemplateBoot)

    @property
    def fetched(self) -> bool:
        """Registered from a URL: the template service fetches and keeps it."""
        return self.url.startswith(("http://", "https://"))


class TemplateCopy(Request):
    zone_id: UUID


async def _record(
    conn: Any,
    intake: Intake,
    op: UUID,
    template_id: UUID,
    verb: str,
    workflow: str,
    inp: BaseModel,
    zone_id: UUID | None,
) -> OperationRecord:
    return await intake.record(
        conn,
        operation_id=op,
        resource_type="template",
        resource_id=template_id,
        verb=verb,
        workflow_type=workflow,
        input=inp,
        attributes={"StratoZone": str(zone_id or "")},
    )


async def register(
    ctx: CommandContext, body: TemplateCreate, idempotency_key: str | None
) -> Template | Accepted:
    """A host-path template is a record, Ready at once (the image is on every host); a
    URL template is Downloading until the template service has it (an operation)."""
    await ctx.authorize(Action("template.register", "template"))
    if not body.fetched:
        async with ctx.db.tx() as conn:
            if body.zone_id is not None:
                await zone_exists(conn, body.zone_id)
            values = body.model_dump(exclude={"max_size_bytes"})
            tpl: Template = await repository.insert(conn, TEMPLATES, values)
            await ctx.take(conn, "", "template")  # templates have no owner yet: the caller
        return tpl
    if body.zone_id is None:
        raise InvalidInput(
            "zone_id: a template fetched from a URL is kept in a zone's image store; name "
            "the zone (copy it to others later)",
            field="zone_id",
        )
    if body.format == "vhd":
        raise InvalidInput(
            "format: vhd images are not supported (qcow2, raw or iso)", field="format"
        )
    limit = min(
        body.max_size_bytes or ctx.settings.template_max_bytes, ctx.settings.template_max_bytes
    )
    zone_id = body.zone_id

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        await zone_exists(conn, zone_id)
        store = await templates.writable_store(conn, zone_id)
        download = DownloadInput(
            template_id=uuid4(),
            store=store,
            url=body.url,
            format=body.format,  # vhd was refused above
            checksum=body.checksum,
            max_bytes=limit,
        )
        values = body.model_dump(exclude={"max_size_bytes", "size_bytes"})
        return await record_register(ctx, conn, intake, values, download, zone_id)

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body=body.model_dump(mode="json"),
        build=build,
        resource=TEMPLATES,
    )


async def record_register(
    ctx: CommandContext,
    conn: Any,
    intake: Intake,
    values: dict[str, Any],
    download: DownloadInput,
    zone_id: UUID,
) -> OperationRecord:
    """The template's row (Downloading, to be kept in ``download.store``) and its
    RegisterTemplate operation, in the caller's transaction."""
    op, tpl_id = uuid4(), download.template_id
    values = values | {
        "id": tpl_id,
        "state": TemplateState.DOWNLOADING.value,
        "stored": True,
        "max_size_bytes": download.max_bytes,
        "current_operation_id": op,
    }
    await repository.insert(conn, TEMPLATES, values, operation_id=op)
    await ctx.take(conn, "", "template")  # templates have no owner yet: the caller
    await templates.add_copy(conn, tpl_id, download.store.store_id)
    inp = RegisterTemplateInput(
        template_id=tpl_id, operation_id=op, download=download, queue=ctx.settings.templates_queue
    )
    return await _record(
        conn, intake, op, tpl_id, "register", flows.REGISTER_TEMPLATE.name, inp, zone_id
    )


async def zone_exists(conn: Any, zone_id: UUID) -> None:
    try:
        await repository.get(conn, ZONES, zone_id)
    except NotFound as err:
        raise InvalidInput(f"zone_id: {err.detail}", field="zone_id") from err


async def copy(
    ctx: CommandContext, template_id: UUID, body: TemplateCopy, idempotency_key: str | None
) -> Accepted:
    """A copy of a Ready template in another zone's image store."""
    await ctx.authorize(Action("template.copy", "template", template_id))

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        await zone_exists(conn, body.zone_id)
        tpl = await templates.lock(conn, template_id, op, "copy")
        if not tpl["stored"] or tpl["state"] != TemplateState.READY:
            raise Conflict(
                f"template {tpl['name']} is {tpl['state']}"
                + ("" if tpl["stored"] else ", and its image is a host path, not in a store")
                + ": only a Ready template kept in an image store can be copied"
            )
        if await templates.ready_copy(conn, template_id, body.zone_id) is not None:
            raise Conflict(f"template {tpl['name']} is already in that zone")
        source = await templates.ready_copy(conn, template_id)
        target = await templates.writable_store(conn, body.zone_id)
        await templates.add_copy(conn, template_id, target.store_id)
        transfer = ImportInput(
            key=template_key(template_id), source=templates.store_ref_of(source), target=target
        )
        inp = CopyTemplateInput(
            template_id=template_id,
            operation_id=op,
            transfer=transfer,
            queue=ctx.settings.templates_queue,
        )
        return await _record(
            conn,
            intake,
            op,
            template_id,
            "copy",
            flows.COPY_TEMPLATE.name,
            inp,
            body.zone_id or tpl["zone_id"],
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"copy": str(template_id), **body.model_dump(mode="json")},
        build=build,
        resource=TEMPLATES,
    )


async def delete(
    ctx: CommandContext, template_id: UUID, idempotency_key: str | None
) -> Accepted | None:
    """A host-path template's record goes at once (None); a stored template's copies are
    removed by an operation first. Refused while a VM that is not expunged uses it."""
    await ctx.authorize(Action("template.delete", "template", template_id))
    async with ctx.db.tx() as conn:
        row = await templates.locked_row(conn, template_id)
        await _unused(conn, row)
        if not row["stored"]:
            await repository.delete(conn, TEMPLATES, template_id)
            return None

    async def build(conn: Any, intake: Intake) -> OperationRecord:
        op = uuid4()
        tpl = await templates.lock(conn, template_id, op, "delete")
        await _unused(conn, tpl)
        await transition(conn, TEMPLATE, template_id, TemplateState.DELETING, operation_id=op)
        stores = await templates.stores_of(conn, template_id)
        caches = [
            CachedCopy(pool_name=p, name=n) for p, n in await templates.caches_of(conn, template_id)
        ]
        inp = DeleteTemplateInput(
            template_id=template_id,
            operation_id=op,
            stores=stores,
            caches=caches,
            queue=ctx.settings.templates_queue,
        )
        return await _record(
            conn, intake, op, template_id, "delete", flows.DELETE_TEMPLATE.name, inp, tpl["zone_id"]
        )

    return await ctx.run(
        idempotency_key=idempotency_key,
        request_body={"delete": str(template_id)},
        build=build,
        resource=TEMPLATES,
    )


async def evict_idle(
    db: Database, client: Client, idle_s: float, queue: str = ORCHESTRATION_QUEUE
) -> int:
    """The template cache's garbage collection (the orchestrator's sweep): every pool copy
    no volume there is cloned from, unused for ``idle_s``, is marked Evicting (atomically
    with that check) and removed by an EvictTemplateCache run. Returns how many began."""
    async with db.conn() as conn:
        rows = await templates.evictable(conn, idle_s=idle_s)
    begun = 0
    for r in rows:
        op = r["claimed_by"] or uuid4()
        async with db.tx() as conn:
            if not await templates.evict_begin(conn, r["template_id"], r["pool_id"], op, idle_s):
                continue
        inp = EvictInput(
            template_id=r["template_id"],
            pool_id=r["pool_id"],
            pool_name=r["pool_name"],
            name=r["name"],
            operation_id=op,
        )
        await client.start_workflow(
            flows.EVICT_TEMPLATE.name,
            inp,
            id=f"template-evict:{r['template_id']}:{r['pool_id']}",
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        begun += 1
    return begun


async def _unused(conn: Any, tpl: Any) -> None:
    n = await templates.in_use(conn, tpl["id"])
    if n:
        raise Conflict(
            f"template {tpl['name']} is used by {n} VM(s) that are not expunged: expunge them "
            "first (their root disks are clones of it)"
        )
    services = await templates.managed_services_of(conn, tpl["id"])
    if services:
        raise Conflict(
            f"template {tpl['name']} is what managed service(s) {', '.join(services)} "
            "deploy: roll them out to another template, or remove them, first"
        )
