"""Who is calling, and may they: the ACL service's authenticator and authorizer.

A request proves its caller with a signed request (an API key pair, HMAC-SHA256, see
strato.sdk.signing) or a session token from ``POST /acl/login``. The caller it becomes
sees the owners its role type gives it: a root admin every owner, a domain admin the
accounts of its domain's subtree, a user its own account. Its role's rules decide each
operation; a read it may not make is a 404 (the resource is invisible to it), a write
a 403. The core's own API keys still work beside it: an admin key is a root admin.

Lookups are cached for ``cache_s``; a revocation, a disabled account or user and a
change of role clear the cache of this process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from strato.commands.auth import Action, ApiKeyScopes, Caller
from strato.domain.errors import Forbidden, NotFound, Unauthorized
from strato.schema.db import Database
from strato.sdk import signing
from strato.services.acl import crypto, ldap, rules
from strato.services.acl.rules import Rule
from strato.services.acl.schema import store
from strato.services.acl.settings import AclSettings


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    username: str
    account_id: UUID
    account: str
    domain_id: UUID
    domain_path: str
    role_id: UUID
    role: str
    role_type: str
    rules: tuple[Rule, ...]
    owners: frozenset[str] | None
    key_id: UUID | None = None
    access_key: str | None = None
    session: bytes | None = None

    @property
    def is_root(self) -> bool:
        return self.role_type == "Admin"

    def caller(self) -> Caller:
        scope = {"Admin": "admin", "DomainAdmin": "domain-admin"}.get(self.role_type, "user")
        return Caller(
            name=f"{self.username}@{self.domain_path}/{self.account}",
            scope=scope,
            key_id=self.key_id,
            owners=self.owners,
            owner=str(self.account_id),
            principal=self,
        )


STREAMED = ("/templates/upload",)  # the routes whose bodies are streamed to their handler


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of what a client sent (any characters) with ours."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _parse_credentials(value: str) -> tuple[str, str]:
    fields = dict(part.strip().split("=", 1) for part in value.split(",") if "=" in part.strip())
    access, sig = fields.get("Credential", ""), fields.get("Signature", "")
    if not access or not sig:
        raise Unauthorized(
            f"the Authorization header must be `{signing.ALGORITHM} Credential=<access key>, "
            "Signature=<hex>`"
        )
    return access, sig


class AclAuth:
    def __init__(self, settings: AclSettings) -> None:
        self.settings = settings
        self._sealer: crypto.Sealer | None = None
        self._keys: dict[str, tuple[float, Principal, str]] = {}
        self._sessions: dict[bytes, tuple[float, Principal]] = {}
        self.fallback = ApiKeyScopes()
        self.passwords = crypto.Passwords(settings)
        self._dummy: str | None = None
        self.db: Database | None = None  # the API's, once a request came

    @property
    def sealer(self) -> crypto.Sealer:
        if self._sealer is None:
            self._sealer = crypto.Sealer(crypto.load_key(self.settings))
        return self._sealer

    def ldap_binding(self, stored: dict[str, Any]) -> ldap.LdapBinding:
        """A domain's LDAP binding as stored, its bind password unsealed."""
        binding = dict(stored)
        if binding.get("bind_password"):
            binding["bind_password"] = self.sealer.open(
                bytes.fromhex(binding["bind_password"]), "ldap:" + binding["url"]
            )
        return ldap.LdapBinding.model_validate(binding)

    async def dummy_hash(self) -> str:
        """A hash no password matches, as costly to check as a user's."""
        if self._dummy is None:
            self._dummy = await self.passwords.hash(crypto.new_session_token())
        return self._dummy

    def invalidate(self) -> None:
        """Forget every cached lookup: the next request of each caller is checked anew."""
        self._keys.clear()
        self._sessions.clear()

    # -- authentication ------------------------------------------------------------

    async def authenticate(self, request: Any) -> Caller | None:
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        db: Database = request.app.state.db
        self.db = db
        if scheme == signing.ALGORITHM:
            return (await self._signed(request, db, rest)).caller()
        token = rest.strip()
        if scheme.lower() == "bearer" and token.startswith(crypto.SESSION_PREFIX):
            return (await self._session(db, crypto.token_hash(token))).caller()
        return None

    async def by_access_key(self, db: Database, access: str) -> tuple[Caller, str]:
        """The caller behind an access key and its secret, for a front door that checks
        its own signatures (the CloudStack API's HMAC-SHA1); 401 when unknown, revoked
        or disabled."""
        principal, secret = await self._by_key(db, access)
        return principal.caller(), secret

    async def by_session(self, db: Database, token: str) -> Caller:
        """The caller of a session token (``sess_...``); 401 when unknown or expired."""
        if not token.startswith(crypto.SESSION_PREFIX):
            raise Unauthorized("the session key is unknown or has expired; log in again")
        return (await self._session(db, crypto.token_hash(token))).caller()

    async def _signed(self, request: Any, db: Database, credentials: str) -> Principal:
        access, sig = _parse_credentials(credentials)
        date = request.headers.get(signing.DATE_HEADER, "")
        try:
            at = datetime.strptime(date, signing.DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError as err:
            raise Unauthorized(
                f"a signed request needs {signing.DATE_HEADER} as {signing.DATE_FORMAT}"
            ) from err
        skew = abs((datetime.now(UTC) - at).total_seconds())
        if skew > self.settings.signature_window_s:
            raise Unauthorized(
                f"the request was signed {int(skew)} s from now, outside the "
                f"{self.settings.signature_window_s} s window (a replay, or a wrong clock)"
            )
        principal, secret = await self._by_key(db, access)
        digest = request.headers.get(signing.CONTENT_HEADER, "")
        if digest == signing.UNSIGNED:
            # Only a streamed upload may leave its body out of the signature (it is not
            # read before its handler runs); any other body is signed.
            if not request.url.path.endswith(STREAMED):
                raise Unauthorized(f"{signing.CONTENT_HEADER} must be the body's SHA-256 here")
        else:
            body = await request.body()
            if not _same(digest, hashlib.sha256(body).hexdigest()):
                raise Unauthorized(f"{signing.CONTENT_HEADER} does not match the body")
        text = signing.canonical(
            request.method,
            request.url.path,
            request.query_params.multi_items(),
            date,
            digest,
        )
        if not _same(sig, signing.signature(secret, text)):
            raise Unauthorized("the request signature does not match (wrong secret, or altered)")
        return principal

    async def _by_key(self, db: Database, access: str) -> tuple[Principal, str]:
        cached = self._keys.get(access)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        async with db.conn() as conn:
            row = await store.principal_by_key(conn, access)
            if row is None or row["revoked_at"] is not None:
                raise Unauthorized("the API key is unknown or has been revoked")
            principal = await self._principal(conn, row, key_id=row["key_id"], access_key=access)
        secret = self.sealer.open(row["secret_sealed"], access)
        self._keys[access] = (time.monotonic() + self.settings.cache_s, principal, secret)
        return principal, secret

    async def _session(self, db: Database, token_hash: bytes) -> Principal:
        cached = self._sessions.get(token_hash)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with db.conn() as conn:
            row = await store.principal_by_session(conn, token_hash)
            if row is None:
                raise Unauthorized("the session is unknown or has expired; log in again")
            principal = await self._principal(conn, row, session=token_hash)
        self._sessions[token_hash] = (time.monotonic() + self.settings.cache_s, principal)
        return principal

    async def _principal(
        self,
        conn: Any,
        row: dict[str, Any],
        *,
        key_id: UUID | None = None,
        access_key: str | None = None,
        session: bytes | None = None,
    ) -> Principal:
        for what in ("domain", "account", "user"):
            if row[f"{what}_state"] != "Enabled":
                raise Unauthorized(f"the {what} is {row[f'{what}_state'].lower()}")
        owners: frozenset[str] | None
        if row["role_type"] == "Admin":
            owners = None
        elif row["role_type"] == "DomainAdmin":
            owners = frozenset(str(a) for a in await store.accounts_under(conn, row["domain_path"]))
        else:
            owners = frozenset({str(row["account_id"])})
        role_rules = await store.role_rules(conn, row["role_id"])
        return Principal(
            user_id=row["user_id"],
            username=row["username"],
            account_id=row["account_id"],
            account=row["account"],
            domain_id=row["domain_id"],
            domain_path=row["domain_path"],
            role_id=row["role_id"],
            role=row["role"],
            role_type=row["role_type"],
            rules=tuple(Rule(r, p) for r, p in role_rules),  # type: ignore[arg-type]
            owners=owners,
            key_id=key_id,
            access_key=access_key,
            session=session,
        )

    async def still_valid(self, caller: Caller) -> bool:
        """Whether the caller's key or session still stands (an open event stream asks)."""
        p = caller.principal
        if not isinstance(p, Principal):
            return True
        if self.db is None:
            return True
        self.invalidate_principal(p)
        try:
            if p.session is not None:
                await self._session(self.db, p.session)
            elif p.access_key is not None:
                await self._by_key(self.db, p.access_key)
        except Unauthorized:
            return False
        return True

    def invalidate_principal(self, p: Principal) -> None:
        for access, (_, cached, _) in list(self._keys.items()):
            if cached.user_id == p.user_id:
                del self._keys[access]
        if p.session is not None:
            self._sessions.pop(p.session, None)

    # -- authorization -------------------------------------------------------------

    async def authorize(self, caller: Caller, action: Action) -> None:
        p = caller.principal
        if not isinstance(p, Principal):
            await self.fallback.authorize(caller, action)  # the core's own API keys
            return
        if rules.allows(p.rules, action.name):
            return
        if not action.mutating:
            raise NotFound(f"{action.name} is not available to {caller.name}")
        raise Forbidden(f"role {p.role!r} of {caller.name} does not allow {action.name}")
