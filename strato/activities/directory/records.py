"""Recording an announcement in the services directory (one transaction, its event)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from strato.activities.collect import activities_of
from strato.activities.intx import InTransaction
from strato.domain.directory.flows import DIRECTORY_ANNOUNCE, Announcement
from strato.schema.directory import registry


class DirectoryRecordsActivities(InTransaction):
    @activity.defn(name=DIRECTORY_ANNOUNCE.name)
    async def directory_announce(self, inp: Announcement) -> None:
        """Register (idempotent: the same name is refreshed) or withdraw (idempotent:
        an instance already gone is fine)."""

        async def record(conn: Any) -> None:
            if inp.enter is not None:
                await registry.register(conn, inp.enter)
            elif inp.leave is not None:
                await registry.withdraw(conn, inp.leave, inp.reason)

        await self._tx(record)

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)


DATA_SERVICE: list[Any] = [DirectoryRecordsActivities]
