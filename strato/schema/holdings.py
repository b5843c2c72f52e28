"""What owners hold, counted from the live rows: the usage a resource limit is checked
against (strato.commands.limits). Counted, not kept in a counter, so it can never drift:
a destroyed VM, an expunged volume or a released address stops counting the moment its
state changes, and a limit check made after the new rows are written (in the same
transaction) sees them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# resource -> SQL of the amount held by the owners in $1 (text[])
_LIVE_VM = "state NOT IN ('Destroyed', 'Expunging', 'Expunged', 'Error')"
_LIVE_VOLUME = "state NOT IN ('Destroy', 'Expunging', 'Expunged')"
_QUERIES = {
    "vm": f"SELECT count(*) FROM vms WHERE owner = ANY($1) AND {_LIVE_VM}",
    "cpu": f"SELECT coalesce(sum(cpu_count), 0) FROM vms WHERE owner = ANY($1) AND {_LIVE_VM}",
    "memory": f"SELECT coalesce(sum(memory_mb), 0) FROM vms WHERE owner = ANY($1) AND {_LIVE_VM}",
    "volume": f"SELECT count(*) FROM volumes WHERE owner = ANY($1) AND {_LIVE_VOLUME}",
    "primary_storage": (
        f"SELECT coalesce(sum(size_bytes), 0) FROM volumes WHERE owner = ANY($1) AND {_LIVE_VOLUME}"
    ),
    "snapshot": (
        "SELECT count(*) FROM snapshots WHERE owner = ANY($1)"
        " AND state NOT IN ('Destroying', 'Destroyed', 'Error')"
    ),
    "vm_snapshot": (
        "SELECT count(*) FROM vm_snapshots s JOIN vms v ON v.id = s.vm_id"
        " WHERE v.owner = ANY($1) AND s.state NOT IN ('Expunging', 'Removed', 'Error')"
    ),
    "backup": (
        "SELECT count(*) FROM backups b JOIN vms v ON v.id = b.vm_id"
        " WHERE v.owner = ANY($1) AND b.state NOT IN ('Removing', 'Removed', 'Error')"
    ),
    "network": ("SELECT count(*) FROM networks WHERE owner = ANY($1) AND state <> 'Destroy'"),
    "public_ip": "SELECT count(*) FROM public_ips WHERE owner = ANY($1) AND state <> 'Free'",
    # Templates have no owner in the core yet: an owner holds none.
    "template": "SELECT 0 WHERE $1::text[] IS NOT NULL",
}
RESOURCES = tuple(_QUERIES)


async def held(conn: Any, owners: Sequence[str], resource: str) -> int:
    """How much of ``resource`` the ``owners`` hold together, as of this statement."""
    sql = _QUERIES.get(resource)
    if sql is None:
        raise ValueError(f"unknown limited resource {resource!r}")
    value = await conn.fetchval(sql, list(owners))
    return int(value or 0)
