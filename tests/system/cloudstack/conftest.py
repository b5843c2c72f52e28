"""One real `strato up` (simulated hosts; the ACL service and the CloudStack API on, as
`strato up` has them by default) shared by the real-client scenarios, and a fresh
account with a key pair for each."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.helpers import unique
from tests.system.test_up import Up

ROOT_DOMAIN = "00000000-0000-4000-8000-00000000ac10"
USER_ROLE = "00000000-0000-4000-8000-00000000ac03"


@dataclass
class StratoUp:
    url: str  # http://127.0.0.1:<port>
    admin: httpx.Client
    data: Path

    @property
    def endpoint(self) -> str:
        return f"{self.url}/client/api"

    def account(self) -> dict[str, str]:
        """A new account, its user (password "correct horse") and a key pair."""
        name = unique("acct")
        acct = self._post(
            "/acl/accounts", {"name": name, "domain_id": ROOT_DOMAIN, "role_id": USER_ROLE}
        )
        user = self._post(
            "/acl/users",
            {"account_id": acct["id"], "username": unique("u"), "password": "correct horse"},
        )
        key = self._post(f"/acl/users/{user['id']}/keys", {})
        return {
            "account": name,
            "account_id": acct["id"],
            "username": user["username"],
            "password": "correct horse",
            "key": key["access_key"],
            "secret": key["secret_key"],
        }

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.admin.post(f"{self.url}/api/v1{path}", json=body)
        assert r.status_code in (200, 201), r.text
        found: dict[str, Any] = r.json()
        return found


@pytest.fixture(scope="module")
def strato_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StratoUp]:
    port = free_port()
    env = {
        "STRATO_API_PORT": str(port),
        "STRATO_TEMPORAL_PORT": str(free_port()),
        "STRATO_TEMPORAL_UI_PORT": str(free_port()),
        "STRATO_DEMO_HOSTS": "2",
    }
    data = tmp_path_factory.mktemp("cs-up") / "strato"
    up = Up(data, env)
    try:
        out = up.wait_for("Try: curl", timeout=180)
        assert "CloudStack" in out and "/client/api" in out, out
        key = re.search(r"Admin API key (strato_\S+)", out)
        assert key, out
        with httpx.Client(headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=30) as h:
            yield StratoUp(f"http://127.0.0.1:{port}", h, data)
    finally:
        code = up.stop(signal.SIGINT)
    assert code == 0, "".join(up.output)
