"""The asynchronous client: :class:`AsyncStratoClient`, the surface of
:class:`strato.sdk.client.StratoClient` with every call awaited (``list`` is an async
iterator)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from strato.sdk import core
from strato.sdk.client import Progress, one
from strato.sdk.core import Call, Page
from strato.sdk.errors import WaitTimeout


class AsyncCollection:
    """One collection of the API, asynchronously (see ``strato.sdk.client.Collection``)."""

    def __init__(self, client: AsyncStratoClient, path: str) -> None:
        self.client = client
        self.path = path

    async def page(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page:
        """One page of the collection (``{items, next_cursor}``)."""
        params = {"cursor": cursor, "limit": limit, **filters}
        return core.as_page(await self.client.send(Call("GET", self.path, params=params)))

    async def list(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item matching the filters, page after page (an async iterator)."""
        cursor: str | None = None
        while True:
            page = await self.page(cursor=cursor, limit=500, **filters)
            for item in page["items"]:
                yield item
            cursor = page["next_cursor"]
            if not cursor:
                return

    async def get(self, id: str) -> dict[str, Any]:
        """The resource of that id (NotFound if there is none)."""
        found: dict[str, Any] = await self.client.send(Call("GET", f"{self.path}/{id}"))
        return found

    async def find(self, **filters: Any) -> dict[str, Any]:
        """The one item whose fields equal ``filters`` (NotFound; LookupError for several)."""
        return one(self.path, filters, [i async for i in self.list(**filters)])

    async def create(
        self,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The created item, or for an operation its 202 answer: pass it to ``wait``."""
        call = core.post(self.path, core.body_of(body, fields), idempotency_key)
        created: dict[str, Any] = await self.client.send(call)
        return created

    async def update(
        self, id: str, body: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """``PATCH``: the resource with ``fields`` changed."""
        call = Call("PATCH", f"{self.path}/{id}", json=core.body_of(body, fields))
        updated: dict[str, Any] = await self.client.send(call)
        return updated

    async def delete(self, id: str) -> Any:
        """``DELETE`` the resource (its answer, if any)."""
        return await self.client.send(Call("DELETE", f"{self.path}/{id}"))

    async def act(
        self,
        id: str,
        verb: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``POST {path}/{id}/{verb}``: an action, most of them operations (202)."""
        call = core.post(f"{self.path}/{id}/{verb}", dict(body) if body else None, idempotency_key)
        answer: dict[str, Any] = await self.client.send(call)
        return answer

    def sub(self, id: str, name: str) -> AsyncCollection:
        """The collection ``{path}/{id}/{name}``."""
        return AsyncCollection(self.client, f"{self.path}/{id}/{name}")


class AsyncStratoClient(core.Collections[AsyncCollection]):
    """A client of one platform's REST API, with one key, for asyncio code."""

    def __init__(
        self, api_url: str, api_key: str | None, *, timeout: float = 30.0, **http: Any
    ) -> None:
        """``http``: more options of ``httpx.AsyncClient`` (``verify``, ``transport``, ...)."""
        self.http = httpx.AsyncClient(
            base_url=core.base_url(api_url),
            headers=core.headers(api_key),
            timeout=timeout,
            **http,
        )
        self.attach(lambda path: AsyncCollection(self, path))

    @classmethod
    def from_env(cls, data_dir: Path | None = None) -> AsyncStratoClient:
        url, key = core.from_env(data_dir)
        auth = core.auth_from_env()  # a user's key pair signs instead of a bearer key
        return cls(url, None, auth=auth) if auth is not None else cls(url, key)

    async def __aenter__(self) -> AsyncStratoClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def send(self, call: Call) -> Any:
        """Send one request; its JSON answer (ApiError raised for a refusal)."""
        return core.decode(await self.http.request(call.method, call.path, **call.kwargs()))

    async def get(self, path: str, **params: Any) -> Any:
        """``GET`` a path under /api/v1 with query parameters (None ones left out)."""
        return await self.send(Call("GET", path, params=params))

    async def post(
        self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """``POST`` a body, with an Idempotency-Key when given."""
        return await self.send(core.post(path, body, idempotency_key))

    async def wait(
        self,
        accepted: Mapping[str, Any] | str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - the synchronous client's keyword
        interval: float = 0.2,
        on_change: Progress | None = None,
        raise_on_failure: bool = True,
    ) -> dict[str, Any]:
        """See :meth:`strato.sdk.client.StratoClient.wait`."""
        op_id = core.operation_of(accepted)
        deadline = time.monotonic() + timeout
        seen: tuple[Any, ...] = ()
        while True:
            op: dict[str, Any] = await self.get(f"/operations/{op_id}")
            key = core.progress_key(op)
            if on_change is not None and key != seen:
                on_change(op)
            seen = key
            if op["state"] in core.TERMINAL:
                return core.outcome(op, raise_on_failure)
            if time.monotonic() > deadline:
                raise WaitTimeout(f"operation {op_id} still {op['state']} after {timeout}s")
            await asyncio.sleep(interval)

    async def wait_for(
        self,
        collection: AsyncCollection,
        id: str,
        state: str | Sequence[str],
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - the synchronous client's keyword
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """See :meth:`strato.sdk.client.StratoClient.wait_for`."""
        states = (state,) if isinstance(state, str) else tuple(state)
        deadline = time.monotonic() + timeout
        while True:
            resource = await collection.get(id)
            if core.in_state(resource, states):
                return resource
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"{collection.path}/{id} is {resource.get('state')}, not {states}, "
                    f"after {timeout}s"
                )
            await asyncio.sleep(interval)

    async def register_service(
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
        """See :meth:`strato.sdk.client.StratoClient.register_service`."""
        body = core.service_body(
            name, kind, endpoints, version, zone, metadata, ttl_s, check_kind, check_target
        )
        instance: dict[str, Any] = await self.post("/services", body)
        return instance

    async def service_heartbeat(
        self, instance_id: str, *, health: str = "passing", detail: str | None = None
    ) -> dict[str, Any]:
        """A TTL heartbeat of a registered instance."""
        call = Call("PUT", f"/services/{instance_id}/heartbeat", json=core.beat(health, detail))
        beat: dict[str, Any] = await self.send(call)
        return beat

    async def discover(self, kind: str, zone: str | None = None) -> list[dict[str, Any]]:
        """The endpoints of the healthy instances of ``kind`` (passing ones first)."""
        found: list[dict[str, Any]] = await self.get("/services/discover", kind=kind, zone=zone)
        return found

    async def deregister_service(self, instance_id: str) -> None:
        """Remove an instance from the directory."""
        await self.send(Call("DELETE", f"/services/{instance_id}"))
