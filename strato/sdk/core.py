"""What the synchronous and the asynchronous clients share: where the API is and with
which key, the collections of the REST API, how a request is built and its answer read,
and when an operation is over."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar

import httpx

from strato.sdk.errors import OperationFailed, api_error

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8080"
TERMINAL = ("succeeded", "failed", "cancelled")

# Every collection of the REST API, by the attribute a client shows it as. Nested ones
# (a public IP's rules, a VM's snapshots) are reached with ``Collection.sub``.
COLLECTIONS: dict[str, str] = {
    "zones": "/zones",
    "pods": "/pods",
    "clusters": "/clusters",
    "hosts": "/hosts",
    "storage_pools": "/storage-pools",
    "image_stores": "/image-stores",
    "service_offerings": "/service-offerings",
    "disk_offerings": "/disk-offerings",
    "network_offerings": "/network-offerings",
    "backup_offerings": "/backup-offerings",
    "templates": "/templates",
    "vms": "/vms",
    "vm_snapshots": "/vm-snapshots",
    "volumes": "/volumes",
    "snapshots": "/snapshots",
    "snapshot_policies": "/snapshot-policies",
    "backups": "/backups",
    "backup_schedules": "/backup-schedules",
    "affinity_groups": "/affinity-groups",
    "networks": "/networks",
    "physical_networks": "/physical-networks",
    "public_ip_ranges": "/public-ip-ranges",
    "public_ips": "/public-ips",
    "port_forwarding_rules": "/port-forwarding-rules",
    "firewall_rules": "/firewall-rules",
    "egress_rules": "/egress-rules",
    "security_groups": "/security-groups",
    "security_group_rules": "/security-group-rules",
    "operations": "/operations",
    "events": "/events",
    "webhooks": "/webhooks",
    "event_signals": "/event-signals",
    "services": "/services",
    "managed_services": "/managed-services",
    "api_keys": "/api-keys",
    "alerts": "/alerts",
    "ssh_key_pairs": "/ssh-key-pairs",
}


C = TypeVar("C")


class Collections(Generic[C]):
    """Every collection of :data:`COLLECTIONS` as an attribute, of the client's kind."""

    zones: C
    pods: C
    clusters: C
    hosts: C
    storage_pools: C
    image_stores: C
    service_offerings: C
    disk_offerings: C
    network_offerings: C
    backup_offerings: C
    templates: C
    vms: C
    vm_snapshots: C
    volumes: C
    snapshots: C
    snapshot_policies: C
    backups: C
    backup_schedules: C
    affinity_groups: C
    networks: C
    physical_networks: C
    public_ip_ranges: C
    public_ips: C
    port_forwarding_rules: C
    firewall_rules: C
    egress_rules: C
    security_groups: C
    security_group_rules: C
    operations: C
    events: C
    webhooks: C
    event_signals: C
    services: C
    managed_services: C
    api_keys: C
    alerts: C
    ssh_key_pairs: C

    def attach(self, make: Callable[[str], C]) -> None:
        """Make each collection with ``make(path)``."""
        for attr, path in COLLECTIONS.items():
            setattr(self, attr, make(path))


class Page(TypedDict):
    """One page of a list: its items and the cursor of the next (None: the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def default_data_dir() -> Path:
    """Where ``strato up`` keeps its state (and the client config it writes): root's is
    /var/lib/strato unless an older Strato keeps it in root's home; anyone else's is in
    their home."""
    home = Path.home() / ".local" / "share" / "strato"
    if os.geteuid() == 0 and not home.exists():
        return Path("/var/lib/strato")
    return home


def from_env(data_dir: Path | None = None) -> tuple[str, str | None]:
    """The API URL and key: STRATO_API_URL / STRATO_API_KEY, else the client.json that
    ``strato up`` wrote in its data directory (STRATO_DATA_DIR or the default)."""
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
    return url or DEFAULT_URL, key


def auth_from_env() -> Any:
    """An API key pair from STRATO_ACCESS_KEY and STRATO_SECRET_KEY, as httpx
    authentication that signs each request (None when they are not set)."""
    access, secret = os.environ.get("STRATO_ACCESS_KEY"), os.environ.get("STRATO_SECRET_KEY")
    if not access or not secret:
        return None
    from strato.sdk.signing import HmacAuth

    return HmacAuth(access, secret)


def base_url(api_url: str) -> str:
    """The API's base (``.../api/v1``) from a platform's URL, with or without it."""
    return api_url.rstrip("/").removesuffix(API_PREFIX) + API_PREFIX


def headers(api_key: str | None) -> dict[str, str]:
    """The Authorization header of a key (none without one)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


@dataclass(frozen=True)
class Call:
    """One request, before a client sends it."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """The request's keywords for httpx."""
        kw: dict[str, Any] = {"headers": self.headers}
        if self.params:
            kw["params"] = {k: _param(v) for k, v in self.params.items() if v is not None}
        if self.json is not None:
            kw["json"] = self.json
        return kw


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, int | float | str) else value


def decode(response: httpx.Response) -> Any:
    """The answer's JSON (None for an empty one), or its problem raised as an ApiError."""
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            problem = {"title": response.reason_phrase, "detail": response.text[:200]}
        raise api_error(response.status_code, problem)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def body_of(body: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A request body from a mapping and/or keyword fields (the fields win)."""
    return {**(body or {}), **fields}


def post(path: str, body: Any, idempotency_key: str | None) -> Call:
    """A POST, with its Idempotency-Key when given."""
    extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", path, json=body, headers=extra)


def as_page(answer: Any) -> Page:
    """A list answer as a page (the few unpaged lists are one page)."""
    if isinstance(answer, list):
        return {"items": answer, "next_cursor": None}
    return {"items": list(answer["items"]), "next_cursor": answer.get("next_cursor")}


def operation_of(accepted_or_operation: Mapping[str, Any] | str) -> str:
    """The operation id in a 202 answer, an operation, or an id itself."""
    if isinstance(accepted_or_operation, str):
        return accepted_or_operation
    op = accepted_or_operation.get("operation", accepted_or_operation)
    return str(op["id"])


def progress_key(op: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a progress callback is told about when it changes."""
    return (op["state"], op["step"], op["progress"], op.get("detail"), op.get("bytes_done"))


def outcome(op: dict[str, Any], raise_on_failure: bool) -> dict[str, Any]:
    """An ended operation, or OperationFailed raised for it when it did not succeed."""
    if raise_on_failure and op["state"] != "succeeded":
        raise OperationFailed(op)
    return op


def in_state(resource: Mapping[str, Any], states: tuple[str, ...]) -> bool:
    """Whether the resource's ``state`` is one of ``states``."""
    return str(resource.get("state")) in states


def service_body(
    name: str,
    kind: str,
    endpoints: Any,
    version: str,
    zone: str | None,
    metadata: dict[str, Any] | None,
    ttl_s: int,
    check_kind: str,
    check_target: str | None,
) -> dict[str, Any]:
    """A directory registration (endpoints as URLs or ``{"url", "protocol"}``)."""
    return {
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


def beat(health: str, detail: str | None) -> dict[str, Any]:
    """A directory heartbeat's body."""
    return {"health": health, "detail": detail}
