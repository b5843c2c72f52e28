"""A small synchronous client for the REST API: problem+json errors become exceptions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from strato.settings import default_data_dir

TERMINAL = ("succeeded", "failed", "cancelled")


class StratoApiError(RuntimeError):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(
            f"{status} {problem.get('title', 'error')}: {problem.get('detail', '')}".rstrip(": ")
        )


class StratoClient:
    def __init__(self, api_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(
            base_url=api_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout
        )

    @classmethod
    def from_env(cls, data_dir: Path | None = None) -> StratoClient:
        """STRATO_API_URL / STRATO_API_KEY, else the client.json written by `strato up`."""
        url = os.environ.get("STRATO_API_URL")
        key = os.environ.get("STRATO_API_KEY")
        if data_dir is None:
            env_dir = os.environ.get("STRATO_DATA_DIR")
            data_dir = Path(env_dir).expanduser() if env_dir else default_data_dir()
        config = data_dir / "client.json"
        if (url is None or key is None) and config.exists():
            data = json.loads(config.read_text())
            url = url or data.get("api_url")
            key = key or data.get("api_key")
        return cls(url or "http://127.0.0.1:8080", key)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            try:
                problem = r.json()
            except ValueError:
                problem = {"title": r.reason_phrase, "detail": r.text[:200]}
            raise StratoApiError(r.status_code, problem)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", path, json=body, headers=headers)

    def upload(
        self,
        path: str,
        file: Path,
        params: dict[str, Any],
        *,
        on_chunk: Callable[[int], None] | None = None,
        chunk_size: int = 1 << 20,
    ) -> Any:
        """POST the file as the request body, streamed (``on_chunk`` is told each chunk's
        size as it goes)."""

        def chunks() -> Iterator[bytes]:
            with open(file, "rb") as f:
                while chunk := f.read(chunk_size):
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                    yield chunk

        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(file.stat().st_size),
        }
        return self.request("POST", path, params=params, content=chunks(), headers=headers)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # -- the services directory ----------------------------------------------------------

    def register_service(
        self,
        name: str,
        kind: str,
        *,
        endpoints: Sequence[str | dict[str, str]] = (),
        version: str = "",
        zone: str | None = None,
        metadata: dict[str, Any] | None = None,
        ttl_s: int = 30,
        check_kind: str = "ttl",
        check_target: str | None = None,
    ) -> dict[str, Any]:
        """Register an instance (again: the same one, passing). A ``ttl`` instance then
        calls :meth:`service_heartbeat` within every ``ttl_s``; an ``http``/``tcp`` one
        is checked by the directory at ``check_target``."""
        body: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "version": version,
            "zone": zone,
            "endpoints": [{"url": e} if isinstance(e, str) else e for e in endpoints],
            "metadata": metadata or {},
            "ttl_s": ttl_s,
            "check_kind": check_kind,
            "check_target": check_target,
        }
        instance: dict[str, Any] = self.post("/services", body)
        return instance

    def service_heartbeat(
        self, instance_id: str, *, health: str = "passing", detail: str | None = None
    ) -> dict[str, Any]:
        beat: dict[str, Any] = self.request(
            "PUT", f"/services/{instance_id}/heartbeat", json={"health": health, "detail": detail}
        )
        return beat

    def discover(self, kind: str, zone: str | None = None) -> list[dict[str, Any]]:
        """The endpoints of the healthy instances of ``kind`` (passing ones first)."""
        found: list[dict[str, Any]] = self.get("/services/discover", kind=kind, zone=zone)
        return found

    def deregister_service(self, instance_id: str) -> None:
        self.delete(f"/services/{instance_id}")

    def list_all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.get(path, cursor=cursor, limit=500, **params)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def wait_operation(
        self,
        op_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 0.2,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: tuple[Any, ...] = ()
        while True:
            op: dict[str, Any] = self.get(f"/operations/{op_id}")
            key = (op["state"], op["step"], op["progress"], op.get("detail"), op.get("bytes_done"))
            if on_change is not None and key != seen:
                on_change(op)
            seen = key
            if op["state"] in TERMINAL:
                return op
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation {op_id} still {op['state']} after {timeout}s")
            time.sleep(interval)
