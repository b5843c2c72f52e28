"""The ACL service's SQL: domains, accounts, users, roles, key pairs, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from strato.domain.errors import Conflict, InvalidInput, NotFound
from strato.services.acl.models import Account, Domain, Role, RuleIn, User

_ACCOUNT = """SELECT a.id, a.domain_id, d.path AS domain_path, a.name, a.role_id,
                     r.name AS role, r.type AS role_type, a.state, a.created_at
              FROM acl_accounts a JOIN acl_domains d ON d.id = a.domain_id
                   JOIN acl_roles r ON r.id = a.role_id"""
_USER = """SELECT id, account_id, domain_id, username, source, state, email, created_at
           FROM acl_users"""
_UNDER = "(d.path = $1 OR starts_with(d.path, $1 || '/'))"


# -- domains ------------------------------------------------------------------------


async def create_domain(conn: Any, name: str, parent: Domain) -> Domain:
    try:
        row = await conn.fetchrow(
            """INSERT INTO acl_domains (id, name, parent_id, path) VALUES ($1, $2, $3, $4)
               RETURNING *""",
            uuid4(),
            name,
            parent.id,
            f"{parent.path}/{name}",
        )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(f"domain {parent.path} already has a sub-domain {name!r}") from err
    return Domain.model_validate(dict(row))


async def get_domain(conn: Any, domain_id: UUID) -> Domain:
    row = await conn.fetchrow("SELECT * FROM acl_domains WHERE id = $1", domain_id)
    if row is None:
        raise NotFound(f"domain {domain_id} does not exist", id=str(domain_id))
    return Domain.model_validate(dict(row))


async def domain_by_path(conn: Any, path: str) -> Domain | None:
    row = await conn.fetchrow("SELECT * FROM acl_domains WHERE lower(path) = lower($1)", path)
    return None if row is None else Domain.model_validate(dict(row))


async def list_domains(conn: Any, under: str) -> list[Domain]:
    rows = await conn.fetch(f"SELECT * FROM acl_domains d WHERE {_UNDER} ORDER BY path", under)
    return [Domain.model_validate(dict(r)) for r in rows]


async def delete_domain(conn: Any, domain: Domain) -> None:
    if domain.parent_id is None:
        raise Conflict("the ROOT domain cannot be deleted")
    busy = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM acl_domains WHERE parent_id = $1)
               OR EXISTS (SELECT 1 FROM acl_accounts WHERE domain_id = $1)""",
        domain.id,
    )
    if busy:
        raise Conflict(f"domain {domain.path} still has sub-domains or accounts")
    await conn.execute("DELETE FROM acl_limits WHERE target_id = $1", domain.id)
    await conn.execute("DELETE FROM acl_domains WHERE id = $1", domain.id)


async def get_ldap(conn: Any, domain_id: UUID) -> dict[str, Any] | None:
    """The domain's LDAP binding as stored (its bind password sealed)."""
    value: dict[str, Any] | None = await conn.fetchval(
        "SELECT ldap FROM acl_domains WHERE id = $1", domain_id
    )
    return value


async def set_ldap(conn: Any, domain_id: UUID, binding: dict[str, Any] | None) -> None:
    await conn.execute(
        "UPDATE acl_domains SET ldap = $2, version = version + 1 WHERE id = $1",
        domain_id,
        binding,
    )


async def ancestors(conn: Any, domain_id: UUID) -> list[UUID]:
    """The domain and those above it, the root first."""
    rows = await conn.fetch(
        """WITH RECURSIVE up(id, parent_id, depth) AS (
               SELECT id, parent_id, 0 FROM acl_domains WHERE id = $1
               UNION ALL
               SELECT d.id, d.parent_id, up.depth + 1
               FROM acl_domains d JOIN up ON d.id = up.parent_id)
           SELECT id FROM up ORDER BY depth DESC""",
        domain_id,
    )
    return [r["id"] for r in rows]


# -- accounts -----------------------------------------------------------------------


async def create_account(conn: Any, name: str, domain_id: UUID, role_id: UUID) -> Account:
    account_id = uuid4()
    try:
        await conn.execute(
            "INSERT INTO acl_accounts (id, domain_id, name, role_id) VALUES ($1, $2, $3, $4)",
            account_id,
            domain_id,
            name,
            role_id,
        )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(f"the domain already has an account {name!r}") from err
    return await get_account(conn, account_id)


async def get_account(conn: Any, account_id: UUID) -> Account:
    row = await conn.fetchrow(f"{_ACCOUNT} WHERE a.id = $1", account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist", id=str(account_id))
    return Account.model_validate(dict(row))


async def list_accounts(conn: Any, under: str, only: UUID | None = None) -> list[Account]:
    rows = await conn.fetch(
        f"{_ACCOUNT} WHERE {_UNDER} AND ($2::uuid IS NULL OR a.id = $2) ORDER BY d.path, a.name",
        under,
        only,
    )
    return [Account.model_validate(dict(r)) for r in rows]


async def accounts_under(conn: Any, path: str) -> list[UUID]:
    rows = await conn.fetch(
        f"SELECT a.id FROM acl_accounts a JOIN acl_domains d ON d.id = a.domain_id WHERE {_UNDER}",
        path,
    )
    return [r["id"] for r in rows]


async def update_account(conn: Any, account_id: UUID, changes: dict[str, Any]) -> Account:
    for column, value in changes.items():
        assert column in ("state", "role_id")
        await conn.execute(
            f"UPDATE acl_accounts SET {column} = $2, version = version + 1 WHERE id = $1",
            account_id,
            value,
        )
    return await get_account(conn, account_id)


async def lock_account(conn: Any, account_id: UUID) -> UUID | None:
    """Lock the account's row (limits are checked one claim at a time per account);
    its domain's id, or None if there is no such account."""
    domain_id: UUID | None = await conn.fetchval(
        "SELECT domain_id FROM acl_accounts WHERE id = $1 FOR UPDATE", account_id
    )
    return domain_id


# -- users --------------------------------------------------------------------------


async def create_user(
    conn: Any,
    account: Account,
    username: str,
    password_hash: str | None,
    *,
    email: str = "",
    source: str = "local",
) -> User:
    try:
        row = await conn.fetchrow(
            """INSERT INTO acl_users (id, account_id, domain_id, username, password_hash,
                                      source, email)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, account_id, domain_id, username, source, state, email, created_at""",
            uuid4(),
            account.id,
            account.domain_id,
            username,
            password_hash,
            source,
            email,
        )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(f"domain {account.domain_path} already has a user {username!r}") from err
    return User.model_validate(dict(row))


async def get_user(conn: Any, user_id: UUID) -> User:
    row = await conn.fetchrow(f"{_USER} WHERE id = $1", user_id)
    if row is None:
        raise NotFound(f"user {user_id} does not exist", id=str(user_id))
    return User.model_validate(dict(row))


async def list_users(conn: Any, account_ids: list[UUID]) -> list[User]:
    rows = await conn.fetch(
        f"{_USER} WHERE account_id = ANY($1::uuid[]) ORDER BY username", account_ids
    )
    return [User.model_validate(dict(r)) for r in rows]


async def login_row(conn: Any, domain_id: UUID, username: str) -> dict[str, Any] | None:
    """The user's row for a password login, locked (failed attempts are counted)."""
    row = await conn.fetchrow(
        """SELECT u.*, a.state AS account_state, d.state AS domain_state
           FROM acl_users u JOIN acl_accounts a ON a.id = u.account_id
                JOIN acl_domains d ON d.id = u.domain_id
           WHERE u.domain_id = $1 AND lower(u.username) = lower($2) FOR UPDATE OF u""",
        domain_id,
        username,
    )
    return None if row is None else dict(row)


async def login_failed(conn: Any, user_id: UUID, lock_at: int) -> bool:
    """Count a failed password; whether the user is now locked."""
    state = await conn.fetchval(
        """UPDATE acl_users SET failed_logins = failed_logins + 1,
                  state = CASE WHEN failed_logins + 1 >= $2 THEN 'Locked' ELSE state END
           WHERE id = $1 RETURNING state""",
        user_id,
        lock_at,
    )
    return bool(state == "Locked")


async def move_user(conn: Any, user_id: UUID, account_id: UUID) -> None:
    """Into another account of the same domain (an LDAP user whose groups changed)."""
    await conn.execute(
        """UPDATE acl_users SET account_id = $2, version = version + 1
           WHERE id = $1 AND domain_id = (SELECT domain_id FROM acl_accounts WHERE id = $2)""",
        user_id,
        account_id,
    )


async def update_user(conn: Any, user_id: UUID, changes: dict[str, Any]) -> User:
    for column, value in changes.items():
        assert column in ("state", "password_hash", "failed_logins")
        await conn.execute(
            f"UPDATE acl_users SET {column} = $2, version = version + 1 WHERE id = $1",
            user_id,
            value,
        )
    if changes.get("state") == "Enabled":
        await conn.execute("UPDATE acl_users SET failed_logins = 0 WHERE id = $1", user_id)
    return await get_user(conn, user_id)


# -- roles --------------------------------------------------------------------------


async def get_role(conn: Any, role_id: UUID) -> Role:
    row = await conn.fetchrow("SELECT * FROM acl_roles WHERE id = $1", role_id)
    if row is None:
        raise NotFound(f"role {role_id} does not exist", id=str(role_id))
    rules = await conn.fetch(
        """SELECT rule, permission, description FROM acl_role_rules
           WHERE role_id = $1 ORDER BY position""",
        role_id,
    )
    return Role(**dict(row), rules=[RuleIn(**dict(r)) for r in rules])


async def list_roles(conn: Any) -> list[Role]:
    ids = await conn.fetch("SELECT id FROM acl_roles ORDER BY name")
    return [await get_role(conn, r["id"]) for r in ids]


async def create_role(
    conn: Any, name: str, role_type: str, description: str, rules: list[RuleIn]
) -> Role:
    role_id = uuid4()
    try:
        await conn.execute(
            "INSERT INTO acl_roles (id, name, type, description) VALUES ($1, $2, $3, $4)",
            role_id,
            name,
            role_type,
            description,
        )
    except asyncpg.UniqueViolationError as err:
        raise Conflict(f"a role {name!r} exists already") from err
    await replace_rules(conn, role_id, rules)
    return await get_role(conn, role_id)


async def replace_rules(conn: Any, role_id: UUID, rules: list[RuleIn]) -> None:
    await conn.execute("DELETE FROM acl_role_rules WHERE role_id = $1", role_id)
    await conn.executemany(
        """INSERT INTO acl_role_rules (role_id, position, rule, permission, description)
           VALUES ($1, $2, $3, $4, $5)""",
        [(role_id, i, r.rule, r.permission, r.description) for i, r in enumerate(rules, 1)],
    )
    await conn.execute("UPDATE acl_roles SET version = version + 1 WHERE id = $1", role_id)


def check_role_type(role: Role, allowed: set[str]) -> None:
    if role.type not in allowed:
        raise InvalidInput(
            f"role {role.name!r} is of type {role.type}; here only {sorted(allowed)}",
            field="role_id",
        )


# -- key pairs and sessions ---------------------------------------------------------


async def add_key(
    conn: Any, user_id: UUID, name: str, access_key: str, sealed: bytes
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """INSERT INTO acl_api_keys (id, user_id, name, access_key, secret_sealed)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, user_id, name, access_key, created_at, revoked_at""",
        uuid4(),
        user_id,
        name,
        access_key,
        sealed,
    )
    return dict(row)


async def list_keys(conn: Any, user_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, user_id, name, access_key, created_at, revoked_at FROM acl_api_keys
           WHERE user_id = $1 ORDER BY created_at""",
        user_id,
    )
    return [dict(r) for r in rows]


async def get_key(conn: Any, key_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT id, user_id, name, access_key, created_at, revoked_at FROM acl_api_keys
           WHERE id = $1""",
        key_id,
    )
    if row is None:
        raise NotFound(f"API key {key_id} does not exist", id=str(key_id))
    return dict(row)


async def revoke_key(conn: Any, key_id: UUID) -> None:
    await conn.execute(
        """UPDATE acl_api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())
           WHERE id = $1""",
        key_id,
    )


_PRINCIPAL = """SELECT u.id AS user_id, u.username, u.state AS user_state,
                       a.id AS account_id, a.name AS account, a.state AS account_state,
                       d.id AS domain_id, d.path AS domain_path, d.state AS domain_state,
                       r.id AS role_id, r.name AS role, r.type AS role_type"""
_JOINS = """JOIN acl_accounts a ON a.id = u.account_id
            JOIN acl_domains d ON d.id = a.domain_id
            JOIN acl_roles r ON r.id = a.role_id"""


async def principal_by_key(conn: Any, access_key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""{_PRINCIPAL}, k.id AS key_id, k.secret_sealed, k.revoked_at
            FROM acl_api_keys k JOIN acl_users u ON u.id = k.user_id {_JOINS}
            WHERE k.access_key = $1""",
        access_key,
    )
    return None if row is None else dict(row)


async def principal_by_session(conn: Any, token_hash: bytes) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""{_PRINCIPAL}, s.expires_at
            FROM acl_sessions s JOIN acl_users u ON u.id = s.user_id {_JOINS}
            WHERE s.token_hash = $1 AND s.expires_at > clock_timestamp()""",
        token_hash,
    )
    return None if row is None else dict(row)


async def role_rules(conn: Any, role_id: UUID) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT rule, permission FROM acl_role_rules WHERE role_id = $1 ORDER BY position",
        role_id,
    )
    return [(r["rule"], r["permission"]) for r in rows]


async def add_session(conn: Any, token_hash: bytes, user_id: UUID, ttl_s: int) -> datetime:
    expires: datetime = await conn.fetchval(
        """INSERT INTO acl_sessions (token_hash, user_id, expires_at)
           VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) RETURNING expires_at""",
        token_hash,
        user_id,
        float(ttl_s),
    )
    await conn.execute("DELETE FROM acl_sessions WHERE expires_at < clock_timestamp()")
    return expires


async def purge_sessions(conn: Any) -> int:
    """Forget expired sessions; how many."""
    done: str = await conn.execute("DELETE FROM acl_sessions WHERE expires_at < clock_timestamp()")
    return int(done.split()[-1])


async def end_sessions(conn: Any, user_id: UUID) -> None:
    await conn.execute("DELETE FROM acl_sessions WHERE user_id = $1", user_id)


async def ldap_domains(conn: Any) -> list[tuple[UUID, dict[str, Any]]]:
    rows = await conn.fetch("SELECT id, ldap FROM acl_domains WHERE ldap IS NOT NULL")
    return [(r["id"], r["ldap"]) for r in rows]


async def ldap_users(conn: Any, domain_id: UUID) -> list[dict[str, Any]]:
    """The domain's enabled LDAP users."""
    rows = await conn.fetch(
        """SELECT id, username, account_id FROM acl_users
           WHERE domain_id = $1 AND source = 'ldap' AND state = 'Enabled' ORDER BY username""",
        domain_id,
    )
    return [dict(r) for r in rows]


async def end_session(conn: Any, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM acl_sessions WHERE token_hash = $1", token_hash)
