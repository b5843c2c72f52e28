"""``strato acl`` against a `strato api` with the ACL service on: the cloud's admin key
makes a domain, an account, a user and its key pair; the user's key pair (from
STRATO_ACCESS_KEY and STRATO_SECRET_KEY) is who the command then runs as, until it is
revoked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.services.acl.test_fuzz import Server, acl_server

__all__ = ["acl_server"]


def _strato(env: dict[str, str], *args: str, ok: bool = True) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "strato.cli", *args],
        env={**os.environ, "STRATO_SERVICES": "acl", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not ok:
        assert done.returncode != 0, done.stdout
        return done.stderr
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


def test_the_acl_commands(acl_server: Server) -> None:
    base, token, _, _ = acl_server
    admin = {"STRATO_API_URL": base, "STRATO_API_KEY": token}
    domain = _strato(admin, "acl", "domains", "create", "sales", "--json")
    assert domain["path"] == "ROOT/sales"
    account = _strato(admin, "acl", "accounts", "create", "acme", "--domain", "ROOT/sales",
                      "--role", "domain-admin", "--json")  # fmt: skip
    assert account["role"] == "Domain Admin"
    user = _strato({**admin, "STRATO_PASSWORD": "a long password"}, "acl", "users", "create",
                   "ann", "--account", account["id"], "--json")  # fmt: skip
    key = _strato(admin, "acl", "keys", "create", user["id"], "--name", "laptop", "--json")
    assert key["secret_key"]
    assert "ROOT/sales" in _strato(admin, "acl", "domains", "list")

    ann = {"STRATO_API_URL": base, "STRATO_ACCESS_KEY": key["access_key"],
           "STRATO_SECRET_KEY": key["secret_key"]}  # fmt: skip
    who = _strato(ann, "acl", "whoami", "--json")
    assert (who["account_id"], who["role_type"]) == (account["id"], "DomainAdmin")
    _strato(admin, "acl", "limits", "set", account["id"], "vm", "2")
    limits = _strato(ann, "acl", "limits", "show", account["id"], "--json")
    assert {"resource": "vm", "max": 2, "used": 0, "exceeded": False} in limits
    err = _strato(ann, "acl", "limits", "set", account["id"], "vm", "50", ok=False)
    assert "does not manage domain admin account" in err
    _strato(admin, "acl", "keys", "revoke", key["id"])
    err = _strato(ann, "acl", "whoami", ok=False)
    assert "revoked" in err
