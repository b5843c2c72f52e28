"""A snapshot operation's steps: the volume's (and its VM's) lock, as every volume
operation, with the snapshot moved in the same steps."""

from __future__ import annotations

from collections.abc import Awaitable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.storage.payloads import SnapshotOpInput, SnapshotResult, VolumeContext
    from strato.workflows.storage.volume_ops import VolumeOps


class SnapshotOps(VolumeOps):
    def __init__(self, inp: SnapshotOpInput) -> None:
        super().__init__(inp.volume_id, inp.operation_id)
        self.inp = inp

    def result(self, state: str) -> SnapshotResult:
        return SnapshotResult(
            snapshot_id=self.inp.snapshot_id, volume_id=self.inp.volume_id, state=state
        )

    async def guard_snapshot(self, body: Awaitable[SnapshotResult]) -> SnapshotResult:
        def outcome(ctx: VolumeContext) -> SnapshotResult:
            return self.result("finished")

        return await self.guarded(body, self.inp.vm_id, outcome)
