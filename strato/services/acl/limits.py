"""Resource limits per account and per domain, checked at claim time.

A command calls ``take`` in its own transaction once its rows are written. The claim
locks the account's row and the limit rows of its domains (root first), then counts what
is held from the live rows (strato.schema.holdings), the new ones included: concurrent
claims against one account or domain queue on those locks, so 50 concurrent deploys
against a limit of 10 leave exactly 10. Nothing is kept in a counter: destroying a VM
frees its share the moment its state changes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.commands.auth import Caller
from strato.commands.limits import RESOURCES, LimitExceeded, held
from strato.services.acl.schema import limits, store


def _account(owner: str) -> UUID | None:
    try:
        return UUID(owner)
    except ValueError:
        return None


class AccountLimits:
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
        account_id = _account(owner)
        if account_id is None:
            return  # not an account's (the cloud's own resources): unlimited
        domain_id = await store.lock_account(conn, account_id)
        if domain_id is None:
            return
        domains = await store.ancestors(conn, domain_id)
        for target, kind, max_ in await limits.lock_bounding(conn, account_id, domains, resource):
            if kind == "account":
                owners = [owner]
                where = "account"
            else:
                domain = await store.get_domain(conn, target)
                owners = [str(a) for a in await store.accounts_under(conn, domain.path)]
                where = f"domain {domain.path}"
            used = await held(conn, owners, resource) + (amount if pending else 0)
            if used > max_:
                raise LimitExceeded(
                    f"the {where} may hold {max_} {resource}; this needs {amount} more "
                    f"and it holds {used - amount}",
                    resource=resource,
                    limit=max_,
                )
