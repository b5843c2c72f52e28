"""Secrets at rest: argon2id password hashes, API secrets sealed with AES-GCM under the
service's key, session tokens stored as their SHA-256."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strato.services.acl.settings import AclSettings


class Passwords:
    def __init__(self, settings: AclSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
        )

    async def hash(self, password: str) -> str:
        """The argon2id hash (work done off the event loop)."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, hashed: str | None, password: str) -> bool:
        if not hashed:
            return False
        try:
            return await asyncio.to_thread(self._hasher.verify, hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def load_key(settings: AclSettings) -> bytes:
    """The sealing key: the configured one, else the key file's (made once, 0600)."""
    if settings.secret_key:
        key = base64.urlsafe_b64decode(settings.secret_key + "=" * (-len(settings.secret_key) % 4))
        if len(key) != 32:
            raise ValueError("STRATO_ACL_SECRET_KEY must be 32 bytes, urlsafe base64")
        return key
    path = settings.resolved_key_file()
    if not path.exists():
        _make_key(path)
    key = base64.urlsafe_b64decode(path.read_text().strip())
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 32-byte key")
    return key


def _make_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode())
    try:
        os.link(tmp, path)  # the first process to make one wins; the others read it
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


class Sealer:
    """AES-256-GCM: nonce (12 bytes) then ciphertext; the access key is bound in as
    associated data, so a sealed secret moved to another key's row does not open."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, access_key: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), access_key.encode())

    def open(self, sealed: bytes, access_key: str) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], access_key.encode()).decode()


def new_key_pair() -> tuple[str, str]:
    """(access key, secret key)."""
    return "STK" + secrets.token_urlsafe(18), secrets.token_urlsafe(32)


SESSION_PREFIX = "sess_"


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
