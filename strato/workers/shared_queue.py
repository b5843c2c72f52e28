"""One worker for the host-bound steps of many hosts: a shared queue's dispatcher.

A host served on a shared queue (``compute+<agent queue>``) gets its steps there, each
naming its host in the activity id (``<host>#<n>``, set by the workflow's routing). The
dispatcher is the queue's one (dynamic) activity: it finds the named host's activity of
that type, decodes the input for it and runs it, inside the same activity context
(heartbeats, cancellation and info are the step's own). A task queue costs the engine
memory and polls whether or not its host is busy, so many simulated hosts on one queue
cost what one host costs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from strato.domain.ids import host_of_activity

# What a host's activities are: built on first use, per host.
Build = Callable[[str], list[Callable[..., Any]]]
# Why a host's steps are refused here (None: they are served).
Refusal = Callable[[str], Awaitable[str | None]]


class HostDispatch:
    def __init__(self, subsystem: str, build: Build, refusal: Refusal) -> None:
        self.subsystem = subsystem
        self._build = build
        self._refusal = refusal
        self._tables: dict[str, dict[str, activity._Definition]] = {}

    def keep(self, hosts: set[str]) -> None:
        """Drop the activities of hosts no longer served (removed ones)."""
        for host in self._tables.keys() - hosts:
            del self._tables[host]

    def _table(self, host: str) -> dict[str, activity._Definition]:
        table = self._tables.get(host)
        if table is None:
            found = (activity._Definition.must_from_callable(fn) for fn in self._build(host))
            table = {d.name: d for d in found if d.name}
            self._tables[host] = table
        return table

    def activities(self) -> list[Callable[..., Any]]:
        return [self.activity()]

    def activity(self) -> Callable[..., Any]:
        """The shared queue's activity: every step type, for every host it serves."""

        @activity.defn(dynamic=True)
        async def dispatch(args: Sequence[RawValue]) -> Any:
            info = activity.info()
            host = host_of_activity(info.activity_id)
            if host is None:
                raise ApplicationError(
                    f"{info.activity_type} reached the shared queue {info.task_queue} without "
                    f"naming its host (activity id {info.activity_id!r})",
                    type="UnroutedStep",
                    non_retryable=True,
                )
            refused = await self._refusal(host)
            if refused is not None:
                raise ApplicationError(refused, type="AgentUnavailable", non_retryable=True)
            defn = self._table(host).get(info.activity_type)
            if defn is None or not defn.is_async:
                raise ApplicationError(
                    f"the {self.subsystem} agent of {host} has no step {info.activity_type}",
                    type="UnknownStep",
                    non_retryable=True,
                )
            values = activity.payload_converter().from_payloads(
                [a.payload for a in args], defn.arg_types
            )
            return await defn.fn(*values)

        return dispatch
