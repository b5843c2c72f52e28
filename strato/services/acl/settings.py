"""The ACL service's settings (``STRATO_ACL_*``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from strato.sdk.core import default_data_dir


class AclSettings(BaseSettings):
    # The key that seals API secrets at rest (32 bytes, urlsafe base64). Unset: a key
    # made once in <data dir>/acl/master.key (0600). Every API process of a cloud must
    # share it, so a deployment with more than one machine sets it.
    secret_key: str | None = None
    key_file: Path | None = None
    # A signed request's X-Strato-Date may be this far from the server's clock.
    signature_window_s: int = Field(default=300, ge=5, le=3600)
    # How long a key's or session's lookup is reused (revocation clears it at once).
    cache_s: float = Field(default=5.0, ge=0, le=300)
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    # How often the ACL's process purges expired sessions and checks LDAP users against
    # their directory (gone: disabled; moved to another mapped group: moved).
    sync_s: float = Field(default=300.0, ge=1, le=86400)
    # Failed password logins in a row that lock a local user.
    max_failed_logins: int = Field(default=5, ge=1, le=100)
    # argon2id cost: memory (KiB) and passes.
    argon2_memory_kib: int = Field(default=65536, ge=1024, le=1 << 22)
    argon2_time_cost: int = Field(default=3, ge=1, le=20)

    def resolved_key_file(self) -> Path:
        if self.key_file is not None:
            return self.key_file
        base = os.environ.get("STRATO_DATA_DIR")
        return (Path(base) if base else default_data_dir()) / "acl" / "master.key"
