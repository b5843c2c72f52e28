"""The synchronous client of the REST API (:class:`StratoClient`); the asynchronous one
with the same surface is :class:`strato.sdk.aio.AsyncStratoClient`.

Every collection of the API is an attribute (``client.vms``, ``client.public_ips``, ...;
the list is :data:`strato.sdk.core.COLLECTIONS`) with the same verbs: ``list`` (every
page), ``page``, ``get``, ``find``, ``create``, ``update``, ``delete``, ``act`` (an
action: ``client.vms.act(id, "start")``) and ``sub`` (a nested collection). Refusals
raise the :mod:`strato.sdk.errors` class their status names. Operations (202 answers)
are waited for with :meth:`StratoClient.wait`, which tells a callback of each change of
their progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from strato.sdk import core
from strato.sdk.core import Call, Page
from strato.sdk.errors import ApiError, NotFound, WaitTimeout

StratoApiError = ApiError  # the name earlier versions raised
TERMINAL = core.TERMINAL
Progress = Callable[[dict[str, Any]], None]


class Collection:
    """One collection of the API (``/vms``), or a nested one (``/public-ips/{id}/...``)."""

    def __init__(self, client: StratoClient, path: str) -> None:
        self.client = client
        self.path = path

    def page(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page:
        """One page of the collection (``{items, next_cursor}``)."""
        params = {"cursor": cursor, "limit": limit, **filters}
        return core.as_page(self.client.send(Call("GET", self.path, params=params)))

    def list(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every item matching the filters, page after page."""
        cursor: str | None = None
        while True:
            page = self.page(cursor=cursor, limit=500, **filters)
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def get(self, id: str) -> dict[str, Any]:
        """The resource of that id (NotFound if there is none)."""
        found: dict[str, Any] = self.client.send(Call("GET", f"{self.path}/{id}"))
        return found

    def find(self, **filters: Any) -> dict[str, Any]:
        """The one item whose fields equal ``filters`` (NotFound: none; LookupError:
        several)."""
        return one(self.path, filters, self.list(**filters))

    def create(
        self,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The created item, or for an operation its 202 answer (``operation``,
        ``resource``): pass that to :meth:`StratoClient.wait`."""
        call = core.post(self.path, core.body_of(body, fields), idempotency_key)
        created: dict[str, Any] = self.client.send(call)
        return created

    def update(
        self, id: str, body: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """``PATCH``: the resource with ``fields`` changed."""
        call = Call("PATCH", f"{self.path}/{id}", json=core.body_of(body, fields))
        updated: dict[str, Any] = self.client.send(call)
        return updated

    def delete(self, id: str) -> Any:
        """``DELETE`` the resource (its answer, if any)."""
        return self.client.send(Call("DELETE", f"{self.path}/{id}"))

    def act(
        self,
        id: str,
        verb: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST {path}/{id}/{verb}``: an action, most of them operations (202)."""
        call = core.post(f"{self.path}/{id}/{verb}", dict(body) if body else None, idempotency_key)
        answer: dict[str, Any] = self.client.send(call)
        return answer

    def sub(self, id: str, name: str) -> Collection:
        """The collection ``{path}/{id}/{name}`` (a public IP's port-forwarding rules)."""
        return Collection(self.client, f"{self.path}/{id}/{name}")


def one(path: str, filters: Mapping[str, Any], items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The one item of ``items`` whose fields equal ``filters``."""
    matched = [i for i in items if all(str(i.get(k)) == str(v) for k, v in filters.items())]
    if not matched:
        raise NotFound(404, {"title": "Not found", "detail": f"nothing in {path} with {filters}"})
    if len(matched) > 1:
        raise LookupError(f"{len(matched)} items in {path} match {filters}")
    return matched[0]


class StratoClient(core.Collections[Collection]):
    """A client of one platform's REST API, with one key."""

    def __init__(
        self, api_url: str, api_key: str | None, *, timeout: float = 30.0, **http: Any
    ) -> None:
        """``http``: more options of ``httpx.Client`` (``verify``, ``transport``, ...)."""
        self.http = httpx.Client(
            base_url=core.base_url(api_url),
            headers=core.headers(api_key),
            timeout=timeout,
            **http,
        )
        self.attach(lambda path: Collection(self, path))

    @classmethod
    def from_env(cls, data_dir: Path | None = None) -> StratoClient:
        """STRATO_API_URL / STRATO_API_KEY, else the client.json written by `strato up`;
        STRATO_ACCESS_KEY and STRATO_SECRET_KEY (an ACL user's key pair) sign instead."""
        url, key = core.from_env(data_dir)
        auth = core.auth_from_env()  # a user's key pair signs instead of a bearer key
        return cls(url, None, auth=auth) if auth is not None else cls(url, key)

    def __enter__(self) -> StratoClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def send(self, call: Call) -> Any:
        """Send one request; its JSON answer (ApiError raised for a refusal)."""
        return core.decode(self.http.request(call.method, call.path, **call.kwargs()))

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """Any request (httpx keywords); its JSON answer."""
        return core.decode(self.http.request(method, path, **kw))

    def get(self, path: str, **params: Any) -> Any:
        """``GET`` a path under /api/v1 with query parameters (None ones left out)."""
        return self.send(Call("GET", path, params=params))

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        """``POST`` a body, with an Idempotency-Key when given."""
        return self.send(core.post(path, body, idempotency_key))

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        """``PATCH`` a body."""
        return self.send(Call("PATCH", path, json=body))

    def delete(self, path: str) -> Any:
        """``DELETE`` a path."""
        return self.send(Call("DELETE", path))

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

    def list_all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of the list at ``path``, page after page."""
        return Collection(self, path).list(**params)

    # -- operations ------------------------------------------------------------------------

    def wait(
        self,
        accepted: Mapping[str, Any] | str,
        *,
        timeout: float = 300.0,
        on_change: Progress | None = None,
        raise_on_failure: bool = True,
    ) -> dict[str, Any]:
        """Wait for an operation (a 202 answer, an operation, or its id) to end; its final
        view. ``on_change`` is told each change of state, step, progress or bytes.
        Raises OperationFailed if it failed or was cancelled (unless told not to), and
        WaitTimeout when ``timeout`` passes first (the operation goes on)."""
        op = self.wait_operation(core.operation_of(accepted), timeout=timeout, on_change=on_change)
        return core.outcome(op, raise_on_failure)

    def wait_operation(
        self,
        op_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 0.2,
        on_change: Progress | None = None,
    ) -> dict[str, Any]:
        """The operation once it ended, whatever its outcome (:meth:`wait` raises on a
        failure)."""
        deadline = time.monotonic() + timeout
        seen: tuple[Any, ...] = ()
        while True:
            op: dict[str, Any] = self.get(f"/operations/{op_id}")
            key = core.progress_key(op)
            if on_change is not None and key != seen:
                on_change(op)
            seen = key
            if op["state"] in TERMINAL:
                return op
            if time.monotonic() > deadline:
                raise WaitTimeout(f"operation {op_id} still {op['state']} after {timeout}s")
            time.sleep(interval)

    def wait_for(
        self,
        collection: Collection,
        id: str,
        state: str | Sequence[str],
        *,
        timeout: float = 300.0,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """The resource once its ``state`` is one of ``state`` (WaitTimeout if not in
        time)."""
        states = (state,) if isinstance(state, str) else tuple(state)
        deadline = time.monotonic() + timeout
        while True:
            resource = collection.get(id)
            if core.in_state(resource, states):
                return resource
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"{collection.path}/{id} is {resource.get('state')}, not {states}, "
                    f"after {timeout}s"
                )
            time.sleep(interval)

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
        body = core.service_body(
            name, kind, endpoints, version, zone, metadata, ttl_s, check_kind, check_target
        )
        instance: dict[str, Any] = self.post("/services", body)
        return instance

    def service_heartbeat(
        self, instance_id: str, *, health: str = "passing", detail: str | None = None
    ) -> dict[str, Any]:
        """A TTL heartbeat of a registered instance."""
        call = Call("PUT", f"/services/{instance_id}/heartbeat", json=core.beat(health, detail))
        beat: dict[str, Any] = self.send(call)
        return beat

    def discover(self, kind: str, zone: str | None = None) -> list[dict[str, Any]]:
        """The endpoints of the healthy instances of ``kind`` (passing ones first)."""
        found: list[dict[str, Any]] = self.get("/services/discover", kind=kind, zone=zone)
        return found

    def deregister_service(self, instance_id: str) -> None:
        """Remove an instance from the directory."""
        self.delete(f"/services/{instance_id}")
