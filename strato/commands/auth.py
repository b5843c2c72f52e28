"""Who may do what: the ``Authorizer`` hook every command calls before it writes anything.

The core knows no ACL (ARCHITECTURE §1.4). A front door says who the caller is
(:class:`Caller`); the command names what it is about to do (:class:`Action`); the
installed :class:`Authorizer` allows it or raises :class:`Forbidden`. The default,
:class:`ApiKeyScopes`, is the admin/read API-key model: read keys read, admin keys do
anything. The ACL service plugs in its own authorizer (domains, accounts, roles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from strato.domain.errors import Forbidden


@dataclass(frozen=True)
class Caller:
    """The authenticated principal behind a request, as its front door knows it.

    ``owners``: whose resources it sees and acts on (the opaque owner strings of the
    core's rows); ``None`` sees all, as the core's own API keys do. ``owner``: what it
    makes resources as when a request names no owner. The ACL service fills both in
    (an account's id; a domain admin's subtree)."""

    name: str
    scope: str
    key_id: UUID | None = None
    owners: frozenset[str] | None = None
    owner: str = ""
    # What the installed authenticator knows of it (the ACL service's user and role);
    # None for the core's own API keys.
    principal: object = field(default=None, compare=False, repr=False)

    def sees(self, owner: str | None) -> bool:
        return self.owners is None or (owner or "") in self.owners

    def owner_for(self, requested: str | None) -> str:
        """The owner a new resource gets: the one asked for, if this caller may make
        resources for it; else its own (``Forbidden`` for an owner it cannot see)."""
        if not requested:
            return self.owner
        if not self.sees(requested):
            raise Forbidden(f"{self.name!r} may not make resources for owner {requested!r}")
        return requested


@dataclass(frozen=True)
class Action:
    """What a command is about to do: ``vm.deploy`` on a VM, ``host.add`` on a host."""

    name: str
    resource_type: str
    resource_id: UUID | None = None
    mutating: bool = True


class Authenticator(Protocol):
    async def authenticate(self, request: Any) -> Caller | None:
        """The caller a request proves it is (``request``: the front door's, a Starlette
        request for the REST API); ``None`` when the request uses none of this
        authenticator's schemes (the core's API keys are tried next); raise
        :class:`Unauthorized` when it uses one and fails."""
        ...


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
