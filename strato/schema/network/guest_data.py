"""What a network's guests are told by its router's metadata service that is too large to
travel with the router's spec: their user data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.network.specs import UserData


async def user_data(conn: Any, net: dict[str, Any], vm_id: UUID | None = None) -> UserData:
    """The user data of the network's guests (``vm_id``: of that VM only; else all,
    ``whole``)."""
    rows = await conn.fetch(
        """SELECT host(n.ip_address) AS ip, v.user_data FROM nics n JOIN vms v ON v.id = n.vm_id
           WHERE n.network_id = $1 AND n.ip_address IS NOT NULL AND v.user_data IS NOT NULL
             AND ($2::uuid IS NULL OR v.id = $2)""",
        net["id"],
        vm_id,
    )
    entries = {r["ip"]: r["user_data"] for r in rows}
    return UserData(network=net["name_key"], entries=entries, whole=vm_id is None)
