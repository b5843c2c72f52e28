"""The resources whose rows have an owner, by resource type: what a caller narrowed to
some owners may see (strato.schema.scope), checked by id where a command or a view
reads a row by its own SQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.schema.compute.ssh_keys import SSH_KEY_PAIRS
from strato.schema.compute.vm_snapshots import VM_SNAPSHOTS
from strato.schema.compute.vms import AFFINITY_GROUPS, VMS
from strato.schema.network.ipam import NETWORKS
from strato.schema.network.public_ips import PUBLIC_IPS
from strato.schema.network.rules import EGRESS, FIREWALL, PORT_FORWARDS
from strato.schema.network.security_groups import GROUPS, RULES
from strato.schema.repository import TableSpec
from strato.schema.storage.backups import BACKUPS, SCHEDULES
from strato.schema.storage.policies import POLICIES
from strato.schema.storage.snapshots import SNAPSHOTS
from strato.schema.storage.volumes import VOLUMES

SPECS: dict[str, TableSpec[Any]] = {
    s.resource_type: s
    for s in (
        VMS,
        AFFINITY_GROUPS,
        SSH_KEY_PAIRS,
        VM_SNAPSHOTS,
        VOLUMES,
        SNAPSHOTS,
        POLICIES,
        BACKUPS,
        SCHEDULES,
        NETWORKS,
        PUBLIC_IPS,
        PORT_FORWARDS,
        FIREWALL,
        EGRESS,
        GROUPS,
        RULES,
    )
}


def spec_for(resource_type: str) -> TableSpec[Any] | None:
    return SPECS.get(resource_type.replace("-", "_"))


async def visible_to(
    conn: Any, resource_type: str, id: UUID, owners: frozenset[str], *, write: bool = False
) -> bool:
    """Whether ``owners`` see the ``resource_type`` row ``id``: theirs, or shared (for
    reading and using it: ``write``, changing it, needs it theirs), or not an owned
    resource at all; a row that does not exist counts as seen (its command answers 404
    itself)."""
    spec = spec_for(resource_type)
    if spec is None or spec.owner is None:
        return True
    shared = "false" if write or not spec.shared else spec.shared
    row = await conn.fetchrow(
        f"SELECT coalesce({spec.owner}, '') AS owner, ({shared}) AS shared"
        f" FROM {spec.table} WHERE id = $1",
        id,
    )
    return row is None or row["shared"] or row["owner"] in owners


async def owned_ids(conn: Any, owners: frozenset[str], ids: list[UUID | None]) -> set[UUID]:
    """Which of ``ids`` (of any owned resource type) belong to ``owners``."""
    found: set[UUID] = set()
    for spec in SPECS.values():
        rows = await conn.fetch(
            f"SELECT id FROM {spec.table} WHERE id = ANY($1::uuid[])"
            f" AND coalesce({spec.owner}, '') = ANY($2::text[])",
            ids,
            sorted(owners),
        )
        found.update(r["id"] for r in rows)
    return found
