"""Host monitoring in shards: each host's agent beats into one of a fixed number of
``HostMonitors`` workflows (the host's shard, by its id), which watch many hosts each.

An agent that serves many hosts (the simulator fleet) sends one batch per shard per beat,
so the engine sees a few signals per beat however many hosts there are; an agent of one
host sends a batch of one. The shard records a batch in one step, remembers for each host
what its agent asks back (the watermark, its pools, the domains to destroy) and when it
was last heard from, and keeps one timer: the next host to fall silent.

A host is watched by one monitor at a time: the database records which
(``hosts.monitor_id``), so a host whose agent moved it to another shard (or away from
its per-host ``HostMonitor`` of before) is forgotten by the old one, never investigated
by it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from strato.domain.fabric.payloads import HostHeartbeat, HostHeartbeatResult, PoolRef
from strato.domain.steps import Flow, Step

PREFIX = "host-monitors:"
DEFAULT_SHARDS = 8


def shard_of(host_id: UUID, shards: int) -> int:
    """The host's shard: stable for a given count (a UUID's bits are uniform)."""
    return host_id.int % max(shards, 1)


def monitor_id(host_id: UUID, shards: int, queue: str) -> str:
    """The workflow id of the shard that watches the host: named by the orchestration
    queue its workflows run on (two clouds on one Temporal namespace stay apart)."""
    return f"{PREFIX}{queue}:{shard_of(host_id, shards)}"


class HostBeat(BaseModel):
    """One host's heartbeat in a batch: who it is, its silence window, the beat."""

    host_id: UUID
    host_name: str
    window_s: float = 30.0
    heartbeat: HostHeartbeat


class WatchedHost(BaseModel):
    """A host as its shard watches it (carried over continue-as-new)."""

    host_id: UUID
    host_name: str
    window_s: float
    last_seen: datetime  # the shard's clock when its last accepted beat was recorded
    silent: bool = False  # its silence was acted on (or its agent stopped cleanly)
    status: str = ""
    unknown: list[str] = Field(default_factory=list)  # unknown domains reported already
    watermark: int | None = None
    pools: list[PoolRef] | None = None
    fence: list[str] = Field(default_factory=list)


class HostMonitorsInput(BaseModel):
    shard: int
    hosts: list[WatchedHost] = Field(default_factory=list)


class HostView(BaseModel):
    """What an agent asks its host's shard (the ``hosts`` query)."""

    status: str = ""
    watermark: int | None = None
    pools: list[PoolRef] | None = None
    fence: list[str] = Field(default_factory=list)


class HostStatusNote(BaseModel):
    """A status an investigation set (Disconnected, Down), for the shard to show."""

    host_id: UUID
    status: str


class HeartbeatsInput(BaseModel):
    monitor_id: str
    beats: list[HostBeat]
    unknown: dict[str, list[str]] = Field(default_factory=dict)  # by host id: reported


class HeartbeatsResult(BaseModel):
    """Each beat's outcome, by host id."""

    results: dict[str, HostHeartbeatResult] = Field(default_factory=dict)


class RoutersRemovedInput(BaseModel):
    host_id: UUID
    networks: list[str]  # network keys


HOST_MONITORS: Flow[HostMonitorsInput, None] = Flow("HostMonitors", HostMonitorsInput, None)
HOST_HEARTBEATS: Step[HeartbeatsInput, HeartbeatsResult] = Step(
    "records.host_heartbeats", HeartbeatsInput, HeartbeatsResult
)
# A returning host's agent removed the stale routers it was told of: their fences lifted.
ROUTERS_REMOVED: Step[RoutersRemovedInput, int] = Step(
    "records.routers_removed", RoutersRemovedInput, int
)
