"""What a caller may administer in the ACL itself: a root admin (or the core's admin key)
all of it, a domain admin its domain's subtree, a user itself."""

from __future__ import annotations

from uuid import UUID

from strato.commands.auth import Caller
from strato.domain.errors import Forbidden, NotFound
from strato.services.acl.auth import Principal
from strato.services.acl.models import Account, Domain, User


def principal(caller: Caller) -> Principal | None:
    """The ACL principal, or None for the core's own API keys (the cloud's admins)."""
    p = caller.principal
    return p if isinstance(p, Principal) else None


def is_root(caller: Caller) -> bool:
    p = principal(caller)
    return p.is_root if p is not None else caller.scope == "admin" and caller.owners is None


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


def top_path(caller: Caller) -> str:
    """The domain subtree the caller sees (ROOT for the cloud's admins)."""
    p = principal(caller)
    return "ROOT" if p is None or p.is_root else p.domain_path


def see_domain(caller: Caller, domain: Domain) -> None:
    if not under(domain.path, top_path(caller)):
        raise NotFound(f"domain {domain.id} does not exist", id=str(domain.id))


def see_account(caller: Caller, account: Account) -> None:
    p = principal(caller)
    visible = under(account.domain_path, top_path(caller)) and (
        p is None or p.role_type != "User" or p.account_id == account.id
    )
    if not visible:
        raise NotFound(f"account {account.id} does not exist", id=str(account.id))


def see_user(caller: Caller, user: User, account: Account) -> None:
    see_account(caller, account)
    p = principal(caller)
    if p is not None and p.role_type == "User" and p.user_id != user.id:
        raise NotFound(f"user {user.id} does not exist", id=str(user.id))


def administer(caller: Caller, domain_path: str, *, strictly_below: bool = False) -> None:
    """Refuse (403) a change in a domain the caller does not administer; a domain admin
    administers its subtree (``strictly_below``: not its own domain, as for limits)."""
    if is_root(caller):
        return
    p = principal(caller)
    if p is None or p.role_type != "DomainAdmin":
        raise Forbidden(f"{caller.name} does not administer domain {domain_path}")
    inside = under(domain_path, p.domain_path)
    if not inside or (strictly_below and domain_path == p.domain_path):
        raise Forbidden(f"{caller.name} does not administer domain {domain_path}")


def manage(caller: Caller, account: Account, *, own_ok: bool = False) -> None:
    """Refuse (403) managing an account the caller may not: only a root admin manages a
    root admin's account; a domain admin manages the accounts of its subtree but not its
    peers' in its own domain, and its own only for its users and keys (``own_ok``),
    never its state, role or limits."""
    if is_root(caller):
        return
    administer(caller, account.domain_path)
    p = principal(caller)
    assert p is not None  # administer let only domain admins through
    if account.role_type == "Admin":
        raise Forbidden(f"only a root admin manages the root admin account {account.name}")
    peer = account.role_type == "DomainAdmin" and account.domain_path == p.domain_path
    if peer and not (own_ok and account.id == p.account_id):
        raise Forbidden(f"{caller.name} does not manage domain admin account {account.name}")


def own_user(caller: Caller, user_id: UUID) -> bool:
    p = principal(caller)
    return p is not None and p.user_id == user_id
