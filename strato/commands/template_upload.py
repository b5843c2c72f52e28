"""Templates and ISOs uploaded through the API (CloudStack's getUploadParamsForTemplate and
the upload that follows): the request body is streamed into the stage of the zone's image
store under the new template's key as it arrives, bounded in size and in the time between
chunks; then the template is recorded Downloading and RegisterTemplate checks and
publishes the staged image exactly as it does a URL's (checksum, ``qemu-img`` with the
format pinned, raw to qcow2), with nothing to fetch.

Needs a directory image store the API process can write (an NFS mount in production, as
the template service has). An upload that is refused, too large, stalled or cut off
leaves nothing behind: no row, no staged bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import Field

from strato.commands.auth import Action
from strato.commands.context import CommandContext, Intake
from strato.commands.templates import Checksum, record_register, zone_exists
from strato.commands.view import Accepted
from strato.domain.errors import InvalidInput, NotFound, PayloadTooLarge, RequestTimeout
from strato.domain.fields import Name, Request, Text
from strato.domain.storage.templates import DownloadInput, template_key
from strato.drivers.registry import load
from strato.drivers.storage.secondary import SecondaryStorage, StageWriter
from strato.schema import repository
from strato.schema.operations import OperationRecord
from strato.schema.storage import templates
from strato.schema.tables import TEMPLATES

FLUSH_BYTES = 1 << 20  # written to the stage a MiB at a time, off the event loop


class TemplateUpload(Request):
    """What an upload's query string says about the image in its body."""

    name: Name
    display_text: Text = ""
    zone_id: UUID
    format: Literal["qcow2", "raw", "iso"] = "qcow2"
    os_type: Text = "Other Linux (64-bit)"
    checksum: Checksum = None
    max_size_bytes: int | None = Field(default=None, gt=0)
    is_public: bool = True
    featured: bool = False


async def upload(
    ctx: CommandContext,
    body: TemplateUpload,
    chunks: AsyncIterator[bytes],
    idempotency_key: str | None,
) -> Accepted:
    await ctx.authorize(Action("template.register", "template"))
    limit = min(
        body.max_size_bytes or ctx.settings.template_max_bytes, ctx.settings.template_max_bytes
    )
    async with ctx.db.conn() as conn:
        await zone_exists(conn, body.zone_id)
        store = await templates.writable_store(conn, body.zone_id)
    if store.driver != "directory":
        raise InvalidInput(
            f"zone_id: uploads are written to a directory image store; the zone's store "
            f"{store.name} is {store.driver}",
            field="zone_id",
        )
    cls = load("secondary", store.driver)
    stage: SecondaryStorage = cls(
        store.name, url=store.url, image_roots=ctx.settings.image_root_list
    )
    tpl_id = uuid4()
    key = template_key(tpl_id)
    try:
        size = await _receive(stage, key, chunks, limit, ctx.settings.body_timeout_s)
        if size == 0:
            raise InvalidInput("the upload is empty: send the image as the request body")

        async def build(conn: Any, intake: Intake) -> OperationRecord:
            values = body.model_dump(exclude={"max_size_bytes"})
            download = DownloadInput(
                template_id=tpl_id,
                store=store,
                url="the uploaded image",
                format=body.format,
                checksum=body.checksum,
                max_bytes=limit,
                uploaded_bytes=size,
            )
            return await record_register(ctx, conn, intake, values, download, body.zone_id)

        accepted = await ctx.run(
            idempotency_key=idempotency_key,
            request_body={"upload": body.model_dump(mode="json"), "bytes": size},
            build=build,
            resource=TEMPLATES,
        )
    except BaseException:
        # Shielded: a cancelled request (the client went away) still cleans up.
        await asyncio.shield(_discard_unless_recorded(ctx, stage, key, tpl_id))
        raise
    if accepted.resource is None or accepted.resource.get("id") != str(tpl_id):
        await stage.discard(key)  # the key's first upload is the template: this copy goes
    return accepted


async def _discard_unless_recorded(
    ctx: CommandContext, stage: SecondaryStorage, key: str, tpl_id: UUID
) -> None:
    """The staged upload goes, unless its template was recorded (the failure came after
    the commit, e.g. starting the workflow: the starter sweep starts it later)."""
    async with ctx.db.conn() as conn:
        try:
            await repository.get(conn, TEMPLATES, tpl_id)
            return
        except NotFound:
            pass
    await stage.discard(key)


async def _receive(
    stage: SecondaryStorage,
    key: str,
    chunks: AsyncIterator[bytes],
    limit: int,
    timeout_s: float,
) -> int:
    """Stage the body under ``key``; its size. 413 past ``limit`` bytes, 408 when no chunk
    comes for ``timeout_s``."""
    writer: StageWriter = await asyncio.to_thread(stage.stage, key, 0)
    size, pending = 0, bytearray()
    try:
        it = aiter(chunks)
        while True:
            try:
                async with asyncio.timeout(timeout_s):
                    chunk = await anext(it)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise RequestTimeout(
                    f"no part of the upload arrived for {timeout_s:g}s (after {size} bytes)"
                ) from None
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the upload exceeds the {limit}-byte limit")
            pending += chunk
            if len(pending) >= FLUSH_BYTES:
                await asyncio.to_thread(writer.write, bytes(pending))
                pending.clear()
        if pending:
            await asyncio.to_thread(writer.write, bytes(pending))
        await asyncio.to_thread(writer.sync)
    finally:
        await asyncio.to_thread(writer.close)
    return size
