"""LDAP and Active Directory logins for a domain bound to a directory server.

A login names a user of the domain; the service finds the user's entry (by
``user_attribute``, under ``base_dn``, searching as ``bind_dn`` or anonymously), binds as
that entry with the password given, and reads the groups it is a member of
(``groupOfNames``/``group`` entries whose ``member`` is the user). The first mapping
whose group the user is in names the account the user belongs to, and so its role. A
user unknown to Strato is created there on its first login (``source`` ldap, no
password stored). The directory unreachable is a 503 naming it; local users of the
domain still log in with their own passwords.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from ldap3 import ANONYMOUS, NONE, SIMPLE, Connection, Server
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPSocketReceiveError
from ldap3.utils.conv import escape_filter_chars
from pydantic import BaseModel, ConfigDict, Field, field_validator

from strato.domain.errors import Forbidden, ServiceUnavailable, Unauthorized


class GroupMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_dn: str = Field(min_length=3, max_length=1000)
    account_id: UUID


class LdapBinding(BaseModel):
    """A domain's directory server (``PUT /acl/domains/{id}/ldap``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=500, description="ldap://host:port or ldaps://host:port")
    base_dn: str = Field(min_length=3, max_length=1000)
    bind_dn: str | None = Field(default=None, max_length=1000)
    bind_password: str | None = Field(default=None, max_length=1000)
    user_attribute: str = Field(default="uid", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    mappings: list[GroupMapping] = Field(min_length=1, max_length=100)
    timeout_s: int = Field(default=3, ge=1, le=30)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("ldap://", "ldaps://")):
            raise ValueError("the URL must be ldap://host[:port] or ldaps://host[:port]")
        return value


@dataclass(frozen=True)
class LdapUser:
    dn: str
    groups: frozenset[str]


def _unavailable(binding: LdapBinding, err: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the LDAP server {binding.url} of this domain did not answer ({type(err).__name__}); "
        "local users can still log in",
        url=binding.url,
    )


def _directory(binding: LdapBinding, username: str, password: str | None) -> LdapUser | None:
    """The user's entry and groups (None: no such user), bound as it with ``password``
    first unless it is None (a lookup by the domain's search account: the sync)."""
    # Whole seconds: ldap3 packs the receive timeout into a socket option as an integer.
    timeout = max(1, round(binding.timeout_s))
    server = Server(binding.url, connect_timeout=timeout, get_info=NONE)
    try:
        look = Connection(
            server,
            user=binding.bind_dn,
            password=binding.bind_password,
            authentication=SIMPLE if binding.bind_dn else ANONYMOUS,
            receive_timeout=timeout,
            raise_exceptions=False,
        )
        if not look.bind():
            raise ServiceUnavailable(
                f"the LDAP server {binding.url} refused the domain's search account "
                f"({look.result.get('description')})",
                url=binding.url,
            )
        try:
            found = look.search(
                binding.base_dn,
                f"({binding.user_attribute}={escape_filter_chars(username)})",
                attributes=[],
                size_limit=2,
            )
            entries = [e.entry_dn for e in look.entries] if found else []
            if len(entries) != 1:
                return None
            dn = entries[0]
            if password is not None:
                user = Connection(server, user=dn, password=password, receive_timeout=timeout)
                if not user.bind():
                    raise Unauthorized("the username or password is wrong")
                user.unbind()
            member = escape_filter_chars(dn)
            look.search(
                binding.base_dn,
                f"(&(|(objectClass=groupOfNames)(objectClass=group))(member={member}))",
                attributes=[],
            )
            groups = frozenset(e.entry_dn.lower() for e in look.entries)
        finally:
            look.unbind()
    except (LDAPSocketOpenError, LDAPSocketReceiveError) as err:
        raise _unavailable(binding, err) from err
    except LDAPException as err:
        raise _unavailable(binding, err) from err
    return LdapUser(dn, groups)


async def lookup(binding: LdapBinding, username: str) -> LdapUser | None:
    """The directory's user ``username`` and its groups now (None: gone); 503 if the
    directory does not answer."""
    return await asyncio.to_thread(_directory, binding, username, None)


async def authenticate(binding: LdapBinding, username: str, password: str) -> LdapUser:
    """The directory's user ``username``, proven by ``password``: 401 if not, 503 if
    the directory does not answer."""
    if not password:
        raise Unauthorized("the username or password is wrong")  # never an anonymous bind
    found = await asyncio.to_thread(_directory, binding, username, password)
    if found is None:
        raise Unauthorized("the username or password is wrong")
    return found


def mapped(binding: LdapBinding, user: LdapUser) -> UUID | None:
    """The account of the first mapping whose group the user is in."""
    for m in binding.mappings:
        if m.group_dn.lower() in user.groups:
            return m.account_id
    return None


def account_for(binding: LdapBinding, user: LdapUser) -> UUID:
    """The account of the first mapping whose group the user is in (403 if none)."""
    account = mapped(binding, user)
    if account is not None:
        return account
    raise Forbidden("none of the user's LDAP groups is mapped to an account of this domain")
