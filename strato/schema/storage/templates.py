"""Templates kept by the template service: their copies in image stores
(``template_stores``) and on primary pools (``template_pool_cache``), and the moves of the
template's own state, each with its event in the caller's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.errors import Conflict, InsufficientCapacity, InvalidInput, NotFound
from strato.domain.states import TemplateState
from strato.domain.storage.models import ImageStore
from strato.domain.storage.templates import (
    CacheClaim,
    CacheClaimInput,
    CacheDoneInput,
    StoreRef,
    TemplateFailedInput,
    TemplateStoredInput,
    cache_name,
)
from strato.schema import events
from strato.schema.repository import TableSpec
from strato.schema.transitions import TEMPLATE, transition

IMAGE_STORES = TableSpec("image_stores", "image_store", ImageStore, references={"zone_id": "zone"})


def store_ref(row: Any) -> StoreRef:
    return StoreRef(store_id=row["id"], name=row["name"], driver=row["driver"], url=row["url"])


async def store(conn: Any, store_id: UUID) -> StoreRef:
    row = await conn.fetchrow("SELECT * FROM image_stores WHERE id = $1", store_id)
    if row is None:
        raise NotFound(f"image store {store_id} does not exist", id=str(store_id))
    return store_ref(row)


def store_ref_of(copy: Any) -> StoreRef:
    """The store of a row :func:`ready_copy` returned."""
    return StoreRef(
        store_id=copy["store_id"], name=copy["store_name"], driver=copy["driver"], url=copy["url"]
    )


async def stores_of(conn: Any, template_id: UUID) -> list[StoreRef]:
    """Every store holding (or fetching) a copy of the template."""
    rows = await conn.fetch(
        """SELECT s.* FROM template_stores ts JOIN image_stores s ON s.id = ts.store_id
           WHERE ts.template_id = $1 ORDER BY s.name""",
        template_id,
    )
    return [store_ref(r) for r in rows]


async def caches_of(conn: Any, template_id: UUID) -> list[tuple[str, str]]:
    """(pool name, copy name) of the template's copies on pools."""
    rows = await conn.fetch(
        """SELECT p.name AS pool_name, c.name FROM template_pool_cache c
           JOIN storage_pools p ON p.id = c.pool_id WHERE c.template_id = $1 ORDER BY p.name""",
        template_id,
    )
    return [(r["pool_name"], r["name"]) for r in rows]


async def writable_store(conn: Any, zone_id: UUID) -> StoreRef:
    """The zone's image store a new template goes to (the one holding the fewest)."""
    row = await conn.fetchrow(
        """SELECT s.* FROM image_stores s
           WHERE s.zone_id = $1 AND s.state = 'Up'
           ORDER BY (SELECT count(*) FROM template_stores ts WHERE ts.store_id = s.id), s.name
           LIMIT 1""",
        zone_id,
    )
    if row is None:
        raise InvalidInput(
            "zone_id: the zone has no image store (secondary storage) that is Up; "
            "add one with POST /image-stores",
            field="zone_id",
        )
    return store_ref(row)


async def ready_copy(conn: Any, template_id: UUID, zone_id: UUID | None = None) -> Any:
    """A Ready copy of the template (in ``zone_id``'s stores if given), with its store."""
    return await conn.fetchrow(
        """SELECT ts.*, s.name AS store_name, s.driver, s.url, s.zone_id
           FROM template_stores ts JOIN image_stores s ON s.id = ts.store_id
           WHERE ts.template_id = $1 AND ts.state = 'Ready'
             AND ($2::uuid IS NULL OR s.zone_id = $2)
           ORDER BY ts.created_at LIMIT 1""",
        template_id,
        zone_id,
    )


async def add_copy(conn: Any, template_id: UUID, store_id: UUID) -> None:
    """A copy being made in a store (Downloading); an old failed one is replaced."""
    await conn.execute(
        """INSERT INTO template_stores (template_id, store_id, state)
           VALUES ($1, $2, 'Downloading')
           ON CONFLICT (template_id, store_id) DO UPDATE
             SET state = 'Downloading', last_error = NULL, updated_at = clock_timestamp()""",
        template_id,
        store_id,
    )


async def share_lock(conn: Any, template_id: UUID) -> None:
    """Hold the template against a delete until the caller's transaction ends."""
    await conn.execute("SELECT 1 FROM templates WHERE id = $1 FOR SHARE", template_id)


async def locked_row(conn: Any, template_id: UUID) -> Any:
    """The template's row, FOR UPDATE (a deploy's share lock waits). NotFound."""
    row = await conn.fetchrow("SELECT * FROM templates WHERE id = $1 FOR UPDATE", template_id)
    if row is None:
        raise NotFound(f"template {template_id} does not exist", id=str(template_id))
    return row


async def lock(conn: Any, template_id: UUID, op: UUID, verb: str) -> Any:
    """The template's row, locked by ``op`` for ``verb``; Conflict naming the holder."""
    row = await locked_row(conn, template_id)
    if row["current_operation_id"] not in (None, op):
        raise Conflict(
            f"template {row['name']} is busy with operation {row['current_operation_id']}; "
            f"retry the {verb} when it has finished"
        )
    await conn.execute(
        "UPDATE templates SET current_operation_id = $2 WHERE id = $1", template_id, op
    )
    return row


async def stored(conn: Any, inp: TemplateStoredInput) -> None:
    """A copy is published: the store's row Ready, the template Ready with its sizes.
    Idempotent."""
    img = inp.image
    await conn.execute(
        """UPDATE template_stores SET state = 'Ready', path = $3, size_bytes = $4,
                  last_error = NULL, updated_at = clock_timestamp()
           WHERE template_id = $1 AND store_id = $2""",
        inp.template_id,
        inp.store_id,
        img.path,
        img.size_bytes,
    )
    row = await conn.fetchrow(
        "SELECT * FROM templates WHERE id = $1 FOR NO KEY UPDATE", inp.template_id
    )
    columns: dict[str, Any] = {"current_operation_id": None, "last_error": None}
    if row["state"] != TemplateState.READY:
        columns |= {
            "size_bytes": img.virtual_size,
            "physical_size_bytes": img.size_bytes,
            "format": img.format,
        }
        if img.checksum and not row["checksum"]:
            columns["checksum"] = img.checksum
    await transition(
        conn,
        TEMPLATE,
        inp.template_id,
        TemplateState.READY,
        operation_id=inp.operation_id,
        columns=columns,
        locked=row,
    )


async def failed(conn: Any, inp: TemplateFailedInput) -> None:
    """A download or copy failed: its store rows Error; a template that was downloading
    is Error with the reason, one that was Ready stays Ready. The lock is released.
    Idempotent."""
    await conn.execute(
        """UPDATE template_stores SET state = 'Error', last_error = $2,
                  updated_at = clock_timestamp()
           WHERE template_id = $1 AND state = 'Downloading'""",
        inp.template_id,
        inp.error,
    )
    row = await conn.fetchrow(
        "SELECT * FROM templates WHERE id = $1 FOR NO KEY UPDATE", inp.template_id
    )
    if row is None or row["current_operation_id"] != inp.operation_id:
        return
    target = TemplateState(row["state"])
    if target in (TemplateState.DOWNLOADING, TemplateState.REGISTERED, TemplateState.DELETING):
        target = TemplateState.ERROR
    await transition(
        conn,
        TEMPLATE,
        inp.template_id,
        target,
        operation_id=inp.operation_id,
        reason=inp.error,
        columns={"current_operation_id": None, "last_error": inp.error},
        locked=row,
    )


async def removed(conn: Any, inp: TemplateFailedInput) -> None:
    """Its copies are gone: the row goes too, unless a VM or volume record still names
    it (then Inactive, kept for their history). Idempotent."""
    row = await conn.fetchrow(
        "SELECT * FROM templates WHERE id = $1 FOR NO KEY UPDATE", inp.template_id
    )
    if row is None:
        return
    named = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM vms WHERE template_id = $1)
               OR EXISTS (SELECT 1 FROM volumes WHERE template_id = $1)""",
        inp.template_id,
    )
    await conn.execute("DELETE FROM template_stores WHERE template_id = $1", inp.template_id)
    await drop_copies(conn, "template_id = $1", inp.template_id)
    if named:
        await transition(
            conn,
            TEMPLATE,
            inp.template_id,
            TemplateState.INACTIVE,
            operation_id=inp.operation_id,
            reason="deleted; kept because VM records name it",
            columns={"current_operation_id": None},
            locked=row,
        )
        return
    await conn.execute("DELETE FROM templates WHERE id = $1", inp.template_id)
    await events.append(
        conn,
        "strato.template.deleted",
        "template",
        inp.template_id,
        operation_id=inp.operation_id,
        payload={"name": row["name"]},
    )


async def in_use(conn: Any, template_id: UUID) -> int:
    """VMs (not expunged) deployed from the template, or with it (an ISO) in their drive."""
    n: int = await conn.fetchval(
        """SELECT count(*) FROM vms
           WHERE (template_id = $1 OR iso_id = $1) AND state <> 'Expunged'""",
        template_id,
    )
    return n


async def cache_claim(conn: Any, inp: CacheClaimInput) -> CacheClaim:
    """The deploy's part in the template's copy on its pool. The first claims it and
    copies; the others wait for Ready. A claim whose operation ended (it failed without
    giving it back) is taken over. Idempotent for the claiming operation."""
    pool = await conn.fetchrow("SELECT zone_id FROM storage_pools WHERE id = $1", inp.pool_id)
    src = await ready_copy(conn, inp.template_id, pool["zone_id"])
    if src is None:
        raise Conflict(f"template {inp.template_id} has no Ready copy in the pool's zone")
    name = cache_name(inp.template_id)
    size = int(src["size_bytes"])
    claim = CacheClaim(action="copy", name=name, source=src["path"], size_bytes=size)
    row = await conn.fetchrow(
        """INSERT INTO template_pool_cache
               (template_id, pool_id, state, name, claimed_by, claimed_bytes)
           VALUES ($1, $2, 'Copying', $3, $4, $5)
           ON CONFLICT (template_id, pool_id) DO NOTHING RETURNING *""",
        inp.template_id,
        inp.pool_id,
        name,
        inp.operation_id,
        size,
    )
    if row is not None:
        # The copy's room on the pool, claimed with it (this transaction undoes both).
        room = await conn.fetchval(
            """UPDATE storage_pools SET allocated_bytes = allocated_bytes + $2::bigint
               WHERE id = $1 AND allocated_bytes + $2::bigint
                                 <= floor(capacity_bytes * overprovisioning_factor)
               RETURNING id""",
            inp.pool_id,
            size,
        )
        if room is None:
            raise InsufficientCapacity(
                f"pool {inp.pool_id} has no room for a {size}-byte copy of template "
                f"{inp.template_id}"
            )
        return claim
    row = await conn.fetchrow(
        """SELECT c.*, (o.outcome IS NOT NULL) AS claim_ended
           FROM template_pool_cache c LEFT JOIN operations o ON o.id = c.claimed_by
           WHERE c.template_id = $1 AND c.pool_id = $2 FOR UPDATE OF c""",
        inp.template_id,
        inp.pool_id,
    )
    if row is None:  # evicted between the two statements
        return claim.model_copy(update={"action": "wait"})
    if row["state"] == "Ready":
        await conn.execute(
            """UPDATE template_pool_cache SET used_at = clock_timestamp()
               WHERE template_id = $1 AND pool_id = $2""",
            inp.template_id,
            inp.pool_id,
        )
        return claim.model_copy(update={"action": "ready"})
    if row["state"] == "Copying" and (row["claimed_by"] == inp.operation_id or row["claim_ended"]):
        await conn.execute(
            """UPDATE template_pool_cache SET claimed_by = $3
               WHERE template_id = $1 AND pool_id = $2""",
            inp.template_id,
            inp.pool_id,
            inp.operation_id,
        )
        return claim
    return claim.model_copy(update={"action": "wait"})


async def cache_done(conn: Any, inp: CacheDoneInput) -> None:
    """The claimed copy is made (Ready, counted) or failed (the claim given back, so a
    waiting deploy can make it). Idempotent; a claim another holds is left alone."""
    if inp.ok:
        row = await conn.fetchrow(
            """UPDATE template_pool_cache
               SET state = 'Ready', size_bytes = $4, copies = copies + 1, claimed_by = NULL,
                   used_at = clock_timestamp()
               WHERE template_id = $1 AND pool_id = $2 AND claimed_by = $3 AND state = 'Copying'
               RETURNING name""",
            inp.template_id,
            inp.pool_id,
            inp.operation_id,
            inp.size_bytes,
        )
        if row is not None:
            await events.append(
                conn,
                "strato.template.cached",
                "template",
                inp.template_id,
                operation_id=inp.operation_id,
                payload={"pool_id": str(inp.pool_id), "size_bytes": inp.size_bytes},
            )
        return
    await drop_copies(
        conn,
        "template_id = $1 AND pool_id = $2 AND claimed_by = $3 AND state = 'Copying'",
        inp.template_id,
        inp.pool_id,
        inp.operation_id,
    )


# Nothing is cloned from the copy: no live volume on its pool, and no volume of its
# template migrating (the target pool's copy is the one it is being rebased onto).
_UNREFERENCED = """
    NOT EXISTS (SELECT 1 FROM volumes v
                WHERE v.template_id = c.template_id AND v.state <> 'Expunged'
                  AND (v.pool_id = c.pool_id OR v.state = 'Migrating'))
    AND NOT EXISTS (SELECT 1 FROM vms m
                    WHERE m.iso_id = c.template_id AND m.state <> 'Expunged')"""


async def evictable(conn: Any, *, idle_s: float, limit: int = 20) -> list[Any]:
    """Ready copies no volume on their pool is cloned from, unused for ``idle_s``, and
    copies left Evicting (a removal to finish)."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT c.template_id, c.pool_id, c.name, c.claimed_by, p.name AS pool_name
            FROM template_pool_cache c JOIN storage_pools p ON p.id = c.pool_id
            WHERE c.state = 'Evicting'
               OR (c.state = 'Ready'
                   AND c.used_at < clock_timestamp() - make_interval(secs => $1)
                   AND {_UNREFERENCED})
            ORDER BY c.used_at LIMIT $2""",
        idle_s,
        limit,
    )
    return rows


async def evict_begin(
    conn: Any, template_id: UUID, pool_id: UUID, op: UUID, idle_s: float = 0.0
) -> bool:
    """Mark a copy Evicting, atomically with the check that nothing uses it and nothing
    claimed it for ``idle_s`` (a deploy claiming it meanwhile waits, then copies anew).
    False: it is in use again."""
    row = await conn.fetchrow(
        f"""UPDATE template_pool_cache c SET state = 'Evicting', claimed_by = $3
            WHERE c.template_id = $1 AND c.pool_id = $2
              AND ((c.state = 'Ready'
                    AND c.used_at < clock_timestamp() - make_interval(secs => $4))
                   OR (c.state = 'Evicting' AND c.claimed_by = $3))
              AND {_UNREFERENCED}
            RETURNING c.name""",
        template_id,
        pool_id,
        op,
        idle_s,
    )
    return row is not None


async def evict_done(conn: Any, inp: CacheDoneInput) -> None:
    deleted = await drop_copies(
        conn,
        "template_id = $1 AND pool_id = $2 AND claimed_by = $3 AND state = 'Evicting'",
        inp.template_id,
        inp.pool_id,
        inp.operation_id,
    )
    if deleted:
        await events.append(
            conn,
            "strato.template.evicted",
            "template",
            inp.template_id,
            operation_id=inp.operation_id,
            payload={"pool_id": str(inp.pool_id)},
        )


async def drop_copies(conn: Any, where: str, *args: Any) -> int:
    """Delete the pool copies ``where`` says (SQL over ``template_pool_cache``), giving
    their room back to their pools; how many went."""
    rows = await conn.fetch(
        f"DELETE FROM template_pool_cache WHERE {where} RETURNING pool_id, claimed_bytes", *args
    )
    for r in rows:
        await conn.execute(
            """UPDATE storage_pools SET allocated_bytes = greatest(allocated_bytes - $2, 0)
               WHERE id = $1""",
            r["pool_id"],
            r["claimed_bytes"],
        )
    return len(rows)


async def managed_services_of(conn: Any, template_id: UUID) -> list[str]:
    """The names of the managed services that deploy from the template."""
    rows = await conn.fetch(
        "SELECT name FROM managed_services WHERE template_id = $1 ORDER BY name", template_id
    )
    return [r["name"] for r in rows]
