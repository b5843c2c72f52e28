"""A snapshot exported to secondary storage by its volume's pool: its backup
(BackupSnapshot: CreatedOnPrimary -> BackingUp -> BackedUp), or a new template
(CreateTemplateFromSnapshot). Each holds the volume's lock, not its VM's (a running
guest keeps running). Refused here, with nothing changed: a snapshot not on its pool, one
already backed up, a zone without an image store, a volume busy with another operation.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.commands.snapshots import ON_PRIMARY, op_input
from strato.commands.storage import operate
from strato.commands.templates import TemplateBoot
from strato.commands.view import Accepted
from strato.domain.errors import Conflict, Forbidden, InvalidInput
from strato.domain.fields import Name, Request, Text
from strato.domain.states import SnapshotState, TemplateState, VolumeState
from strato.domain.storage import flows
from strato.domain.storage.models import Volume
from strato.domain.storage.templates import SnapshotExportInput, snapshot_key, template_key
from strato.schema import repository
from strato.schema.storage import snapshots, templates, volumes
from strato.schema.storage.snapshots import SNAPSHOTS
from strato.schema.tables import TEMPLATES


class TemplateFromSnapshot(Request):
    name: Name
    display_text: Text = ""
    os_type: Text = "Other Linux (64-bit)"
    is_public: bool = True
    boot: TemplateBoot = Field(default_factory=TemplateBoot)


async def _store(conn: Any, vol: Volume) -> Any:
    try:
        return await templates.writable_store(conn, vol.zone_id)
    except InvalidInput as err:
        raise Conflict(f"volume {vol.name}'s zone has no image store that is Up") from err


async def _locked(conn: Any, snapshot_id: UUID, op: UUID, verb: str) -> tuple[Any, Volume]:
    snap = await snapshots.get(conn, snapshot_id)
    vol = await volumes.acquire(conn, snap.volume_id, op, f"{verb}-snapshot", {VolumeState.READY})
    snap = await snapshots.get(conn, snapshot_id)  # as it is now, under the lock
    if snap.state not in ON_PRIMARY:
        raise Conflict(f"snapshot {snap.name} is {snap.state}, not on its volume's pool")
    return snap, vol


async def backup_snapshot(
    ctx: CommandContext, snapshot_id: UUID, idempotency_key: str | None
) -> Accepted:
    await ctx.authorize(Action("snapshot.backup", "snapshot", snapshot_id))

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        snap, vol = await _locked(conn, snapshot_id, op, "backup")
        if snap.state == SnapshotState.BACKED_UP:
            raise Conflict(f"snapshot {snap.name} is backed up already")
        store = await _store(conn, vol)
        base = await op_input(conn, vol, snap, op, None, ctx.settings.templates_queue)
        await snapshots.move(conn, snap.id, SnapshotState.BACKING_UP, operation_id=op)
        inp = SnapshotExportInput(**base.model_dump(), store=store, key=snapshot_key(snap.id))
        return vol, inp, snap.id

    return await operate(
        ctx,
        ("snapshot", snapshot_id),
        "backup",
        flows.BACKUP_SNAPSHOT.name,
        None,
        idempotency_key,
        lock,
        resource=SNAPSHOTS,
    )


async def template_from_snapshot(
    ctx: CommandContext,
    snapshot_id: UUID,
    body: TemplateFromSnapshot,
    idempotency_key: str | None,
) -> Accepted:
    await ctx.authorize(Action("snapshot.create-template", "snapshot", snapshot_id))
    if ctx.caller.owners is not None:  # templates have no owner yet: every account sees them
        raise Forbidden(f"{ctx.caller.name} may not publish templates (they are the cloud's)")

    async def lock(conn: Any, op: UUID) -> tuple[Volume, BaseModel, UUID]:
        snap, vol = await _locked(conn, snapshot_id, op, "export")
        store = await _store(conn, vol)
        tpl_id = uuid4()
        await repository.insert(
            conn,
            TEMPLATES,
            {
                **body.model_dump(),
                "id": tpl_id,
                "zone_id": vol.zone_id,
                "format": "qcow2",
                "state": TemplateState.DOWNLOADING.value,
                "stored": True,
                "current_operation_id": op,
            },
            operation_id=op,
        )
        await templates.add_copy(conn, tpl_id, store.store_id)
        base = await op_input(conn, vol, snap, op, None, ctx.settings.templates_queue)
        inp = SnapshotExportInput(
            **base.model_dump(), store=store, key=template_key(tpl_id), template_id=tpl_id
        )
        return vol, inp, tpl_id

    return await operate(
        ctx,
        ("snapshot", snapshot_id),
        "template",
        flows.TEMPLATE_FROM_SNAPSHOT.name,
        body,
        idempotency_key,
        lock,
        resource=TEMPLATES,
        recorded_as="create",
    )
