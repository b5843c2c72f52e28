"""Per-owner resource limits: the ``Limits`` hook every command that makes a counted
resource calls, in its own transaction, once its rows are written.

The core counts nothing against an owner (CloudStack's resource limits belong to
accounts and domains, which the ACL service brings). The default, :class:`Unlimited`,
allows everything; a switched-on service installs its own (``Service.limits()``), which
may count the owner's rows in that same transaction (they include the new ones) and
raise :class:`LimitExceeded`, which rolls the whole command back.

The resources, as CloudStack names them (:data:`strato.schema.holdings.RESOURCES`):
``vm``, ``cpu`` (vCPUs), ``memory`` (MiB), ``volume`` (root and data), ``primary_storage``
(bytes, a volume's size or growth), ``snapshot``, ``vm_snapshot``, ``backup``,
``template``, ``network``, ``public_ip``. :func:`held` says how much owners hold,
counted from the live rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from strato.commands.auth import Caller
from strato.domain.errors import Conflict
from strato.schema import holdings

RESOURCES = holdings.RESOURCES


async def held(conn: Any, owners: Sequence[str], resource: str) -> int:
    """How much of ``resource`` ``owners`` hold together (the new rows of ``conn``'s
    transaction included)."""
    return await holdings.held(conn, owners, resource)


_installed: list[Limits] = []


def install(limits: Limits | None) -> None:
    """The limits this process's own commands run with (the orchestrator's scheduled
    snapshots and backups, managed services): a switched-on service's, or none."""
    _installed[:] = [limits] if limits is not None else []


def installed() -> Limits:
    return _installed[0] if _installed else Unlimited()


class LimitExceeded(Conflict):
    type = "limit-exceeded"
    title = "Resource limit exceeded"


class Limits(Protocol):
    async def take(
        self,
        conn: Any,
        caller: Caller,
        owner: str,
        resource: str,
        amount: int,
        *,
        pending: bool = False,
    ) -> None:
        """Return if ``owner`` (``""``: what ``caller`` makes for itself) may hold
        ``amount`` more of ``resource`` (already written in ``conn``'s transaction; or,
        ``pending``, to be written by the operation's workflow, as a recovered VM's or
        a scaled one's); raise :class:`LimitExceeded` if not."""
        ...


class Unlimited:
    """The core's default: no owner is limited."""

    async def take(
        self,
        conn: Any,
        caller: Caller,
        owner: str,
        resource: str,
        amount: int,
        *,
        pending: bool = False,
    ) -> None:
        if resource not in RESOURCES:
            raise ValueError(f"unknown limited resource {resource!r}")
