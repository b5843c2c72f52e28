"""The storage checks: stuck volumes, storage claims and pool counters, and volumes
against what their pools hold. The SQL is in :mod:`strato.schema.storage.audit`."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from uuid import UUID

from strato.doctor.findings import Checks, Delete, DriverRepairs, Finding
from strato.domain.fabric.payloads import PoolVolume
from strato.domain.states import TRANSITIONAL_VOLUME
from strato.domain.storage.payloads import ImageEntry, StoreKey, StoreRef
from strato.domain.storage.specs import VolumeInfo
from strato.schema.storage import audit


async def volumes(c: Checks, orphan_locks: dict[UUID, str] | None = None) -> None:
    """Volumes left in a transitional state, live volumes of expunged VMs, and volumes
    whose lock an ended operation still holds (``orphan_locks``: operation -> why)."""
    orphans = orphan_locks or {}
    for r in await c.read(audit.stuck_volumes, TRANSITIONAL_VOLUME, list(orphans)):
        op = r["op"]
        if op is not None:
            detail = f"volume's lock is held by operation {op}, which {orphans[op]}"
            to_error = r["state"] in TRANSITIONAL_VOLUME
            await c.found(
                "stuck-volume",
                "volume",
                r["id"],
                f"volume {r['name']}",
                detail,
                "release the lock"
                + (f" and move it from {r['state']} to Error" if to_error else ""),
                partial(
                    audit.unstick_volume,
                    volume_id=r["id"],
                    state=r["state"],
                    op=op,
                    error=f"{detail} (moved to Error by strato doctor)",
                    to_error=to_error,
                ),
            )
            continue
        if r["vm_state"] == "Expunged":
            detail = f"volume is {r['state']} but its VM is Expunged"
            target = "Expunged"
        else:
            detail = f"volume is {r['state']} but no operation is working on it"
            target = "Error"
        await c.found(
            "stuck-volume",
            "volume",
            r["id"],
            f"volume {r['name']}",
            detail,
            f"move it from {r['state']} to {target}"
            + (" and release its storage claim" if target == "Expunged" else ""),
            partial(audit.volume_state, volume_id=r["id"], state=r["state"], target=target),
        )


async def pool_claims(c: Checks) -> None:
    for r in await c.read(audit.stray_pool_claims):
        await c.found(
            "stray-pool-claim",
            "volume",
            r["volume_id"],
            f"volume {r['name']}",
            f"claim of {r['bytes']} bytes on {r['pool']} while the volume is {r['state']}"
            + ("" if r["vol_pool"] == r["pool_id"] else " on another pool"),
            f"release the claim on {r['pool']}",
            partial(audit.release_pool_claim, volume_id=r["volume_id"], state=r["state"]),
        )
    for r in await c.read(audit.ready_without_claim):
        await c.found(
            "missing-pool-claim",
            "volume",
            r["id"],
            f"volume {r['name']}",
            f"volume is {r['state']} on {r['pool']} without a storage claim",
            f"claim {r['size_bytes']} bytes on {r['pool']}",
            partial(
                audit.insert_pool_claim,
                volume_id=r["id"],
                pool_id=r["pool_id"],
                size=r["size_bytes"],
                state=r["state"],
            ),
        )


async def pool_counters(c: Checks) -> None:
    for r in await c.read(audit.pool_counters):
        await c.found(
            "pool-capacity",
            "storage_pool",
            r["id"],
            f"pool {r['name']}",
            f"allocated counter says {r['allocated_bytes']} bytes, its {r['n']} claim(s) "
            f"sum to {r['b']}",
            "set the counter to the sum of the claims",
            partial(audit.recount_pool, pool_id=r["id"]),
        )


async def pools_report(
    c: Checks, reports: dict[str, list[VolumeInfo]], taken_at: datetime, repairs: DriverRepairs
) -> None:
    """Each pool's listing against the volume records on it."""
    for pool_name in sorted(reports):
        listed = {v.name for v in reports[pool_name]}
        rows = await c.read(audit.pool_volumes, pool_name)
        owned = {r["name"] for r in rows}
        for r in rows:
            at_rest = r["op"] is None and r["updated_at"] < taken_at
            if at_rest and r["state"] == "Ready" and r["name"] not in listed:
                await c.found(
                    "volume-missing",
                    "volume",
                    r["id"],
                    f"volume {r['name']}",
                    f"volume is Ready on {pool_name}, which does not hold it",
                    "move it from Ready to Error",
                    partial(audit.volume_state, volume_id=r["id"], state="Ready", target="Error"),
                )
        owned |= await _template_copies(c, pool_name, listed, taken_at, repairs)
        for name in sorted(listed - owned):
            if not name.startswith("strato-vol-"):
                c.notes.append(f"{pool_name}: volume {name} is not Strato's (left alone)")
                continue
            if await c.read(audit.recently_owned, name, taken_at):
                continue
            finding = Finding(
                "orphan-volume",
                f"volume {name} on {pool_name}",
                "the pool holds a volume no live volume record owns",
                f"delete {name} on {pool_name}",
            )
            c.findings.append(finding)
            repairs.delete.append(Delete(finding, PoolVolume(pool=pool_name, name=name)))


async def _template_copies(
    c: Checks, pool_name: str, listed: set[str], taken_at: datetime, repairs: DriverRepairs
) -> set[str]:
    """The pool's template copies against their records: a recorded copy whose file is
    gone, a copy file nothing records or is cloned from. Returns the names accounted for."""
    rows = await c.read(audit.template_copies, pool_name)
    for r in rows:
        if r["state"] == "Ready" and r["used_at"] < taken_at and r["name"] not in listed:
            detail = f"template copy is Ready on {pool_name}, which does not hold it"
            if r["clones"]:
                detail += (
                    f" ({r['clones']} volume(s) there are clones of it: their disks are broken)"
                )
            await c.found(
                "template-copy-missing",
                "template",
                r["template_id"],
                f"template copy {r['name']}",
                detail,
                "forget the copy (the next deploy on the pool copies the template again)",
                partial(
                    audit.forget_template_copy, template_id=r["template_id"], pool_id=r["pool_id"]
                ),
            )
    known = {r["name"] for r in rows}
    for name in sorted(n for n in listed - known if n.startswith("strato-tpl-")):
        finding = Finding(
            "orphan-template-copy",
            f"template copy {name} on {pool_name}",
            "the pool holds a template copy no record knows",
            f"delete {name} on {pool_name} (if no volume is a clone of it)",
        )
        c.findings.append(finding)
        repairs.delete.append(Delete(finding, PoolVolume(pool=pool_name, name=name)))
    return {n for n in listed if n.startswith("strato-tpl-")}


async def unused_template_copies(c: Checks, idle_s: float) -> None:
    """Copies nothing is cloned from, unused for well past the cache's idle time: its
    garbage collection is not running (is the orchestrator's sweep?)."""
    for r in await c.read(audit.unused_template_copies, idle_s):
        await c.found(
            "template-copy-unused",
            "template",
            r["template_id"],
            f"template copy {r['name']} on {r['pool']}",
            f"no volume has been cloned from it since {r['used_at']:%Y-%m-%d %H:%M:%S}",
            "hand it to the cache's garbage collection (the orchestrator removes it)",
            partial(audit.evict_template_copy, template_id=r["template_id"], pool_id=r["pool_id"]),
        )


# The kinds of images Strato keeps in a store; anything else there is left alone.
STORE_KINDS = ("template", "snapshot", "backup")


async def stores_report(
    c: Checks,
    stores: dict[UUID, tuple[StoreRef, list[ImageEntry]]],
    taken_at: datetime,
    drops: list[tuple[Finding, StoreKey]],
) -> None:
    """Each image store's listing against the records: an image nothing records (deleted
    through the template service); a template copy, a snapshot's backup or a VM backup's
    volume recorded as there that is not."""
    for store_id, (ref, images) in sorted(stores.items(), key=lambda s: s[1][0].name):
        listed = {i.key for i in images}
        rows = await c.read(audit.store_images, store_id)
        busy = await c.read(audit.backups_in_progress, store_id)
        recorded = {r["key"] for r in rows}
        lost: set[UUID] = set()
        for r in rows:
            missing = r["key"] not in listed and r["updated_at"] < taken_at
            if r["kind"] == "template" and r["state"] == "Ready" and missing:
                await c.found(
                    "image-missing",
                    "template",
                    r["ref"],
                    f"template image {r['key']} in {ref.name}",
                    f"the template's copy is Ready in {ref.name}, which does not hold it",
                    "mark the copy Error (copy or register the template again)",
                    partial(audit.forget_template_image, template_id=r["ref"], store_id=store_id),
                )
            elif r["kind"] == "snapshot" and r["state"] == "BackedUp" and missing:
                await c.found(
                    "snapshot-backup-missing",
                    "snapshot",
                    r["ref"],
                    f"snapshot backup {r['key']} in {ref.name}",
                    f"the snapshot is BackedUp to {ref.name}, which does not hold its backup",
                    "mark it CreatedOnPrimary (its volume still holds it) or Error",
                    partial(audit.forget_snapshot_backup, snapshot_id=r["ref"]),
                )
            elif r["kind"] == "backup" and r["state"] == "BackedUp" and missing:
                if r["ref"] in lost:
                    continue  # one finding per backup, however many volumes it lost
                lost.add(r["ref"])
                await c.found(
                    "backup-missing",
                    "backup",
                    r["ref"],
                    f"VM backup {r['key']} in {ref.name}",
                    f"the backup is BackedUp in {ref.name}, which does not hold this volume",
                    "mark the backup Error (nothing can be restored from it)",
                    partial(audit.forget_vm_backup, backup_id=r["ref"]),
                )
        for key in sorted(listed - recorded):
            if key.split("/")[0] not in STORE_KINDS or any(key.startswith(p) for p in busy):
                continue  # not Strato's kind of image, or a backup being made
            finding = Finding(
                "orphan-image",
                f"image {key} in {ref.name}",
                "the image store holds an image no record names",
                f"delete {key} in {ref.name}",
            )
            c.findings.append(finding)
            drops.append((finding, StoreKey(store=ref, key=key)))
