"""Who may do what: the ``Authorizer`` hook every command calls before it writes anything.

The core knows no ACL (ARCHITECTURE §1.4). A front door says who the caller is
(:class:`Caller`); the command names what it is about to do (:class:`Action`); the
installed :class:`Authorizer` allows it or raises :class:`Forbidden`. The default,
:class:`ApiKeyScopes`, is the admin/read API-key model: read keys read, admin keys do
anything. The ACL service plugs in its own authorizer (domains, accounts, roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from strato.domain.errors import Forbidden


@dataclass(frozen=True)
class Caller:
    """The authenticated principal behind a request, as its front door knows it."""

    name: str
    scope: str
    key_id: UUID | None = None


@dataclass(frozen=True)
class Action:
    """What a command is about to do: ``vm.deploy`` on a VM, ``host.add`` on a host."""

    name: str
    resource_type: str
    resource_id: UUID | None = None
    mutating: bool = True


class Authorizer(Protocol):
    async def authorize(self, caller: Caller, action: Action) -> None:
        """Return if ``caller`` may perform ``action``; raise :class:`Forbidden` if not."""
        ...


class ApiKeyScopes:
    """Today's model: an ``admin`` key may do anything, a ``read`` key only read."""

    async def authorize(self, caller: Caller, action: Action) -> None:
        if action.mutating and caller.scope != "admin":
            raise Forbidden(
                f"key {caller.name!r} has scope {caller.scope!r}; {action.name} needs 'admin'"
            )
