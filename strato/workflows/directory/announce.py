"""DirectoryAnnounce: a process without database access enters or leaves the directory."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from strato.domain.directory.flows import ANNOUNCE, DIRECTORY_ANNOUNCE, Announcement
    from strato.workflows.common import calls


@workflow.defn(name=ANNOUNCE.name)
class DirectoryAnnounceWorkflow:
    @workflow.run
    async def run(self, inp: Announcement) -> None:
        await calls.local(
            DIRECTORY_ANNOUNCE,
            inp,
            timeout=timedelta(seconds=30),
            retry=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=10),
        )
