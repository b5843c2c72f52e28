"""A snapshot policy's steps (Temporal activities): take a snapshot through the snapshot
command (its own operation, as a user's would be), wait for it, and delete the policy's
oldest snapshots beyond ``max_snaps``. They act through the command layer, so they live
here rather than in ``strato.activities``, and run on the orchestrator, which gives them
its Temporal client and settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError

from strato.activities.collect import activities_of
from strato.commands import snapshots as snapshot_commands
from strato.commands.policies import system_context
from strato.domain.errors import StratoError
from strato.domain.storage.payloads import PolicyFired, PolicyFireInput, PolicyRef
from strato.domain.storage.steps import POLICY_FIRE, POLICY_PRUNE, POLICY_WAIT
from strato.schema import repository
from strato.schema.db import Database
from strato.schema.storage import policies
from strato.schema.storage.volumes import VOLUMES
from strato.settings import Settings


class PolicyActivities:
    def __init__(self, db: Database, client: Client, settings: Settings) -> None:
        self.db = db
        self.client = client
        self.settings = settings

    @activity.defn(name=POLICY_FIRE.name)
    async def fire(self, inp: PolicyFireInput) -> PolicyFired:
        """Take the policy's snapshot. Idempotent (the firing is the Idempotency-Key). A
        volume busy or not Ready skips this firing, saying why; a policy whose row is gone
        (its creation failed half-way) deletes its own schedule."""
        async with self.db.conn() as conn:
            policy = await policies.find(conn, inp.policy_id)
            vol = await repository.get(conn, VOLUMES, policy.volume_id) if policy else None
        if policy is None or vol is None:
            handle = self.client.get_schedule_handle(policies.schedule_id(inp.policy_id))
            await handle.delete()
            return PolicyFired(skipped="the policy no longer exists; its schedule was removed")
        ctx = system_context(self.db, self.client, self.settings)
        try:
            # No body: the command names it (<volume>-<interval>-<time>), and a retry of
            # this step sends the very same request under the same Idempotency-Key.
            accepted = await snapshot_commands.create_snapshot(
                ctx,
                vol.id,
                None,
                f"snapshot-policy:{inp.firing}",
                kind=policy.interval_type,
                policy_id=policy.id,
            )
        except StratoError as err:
            return PolicyFired(skipped=err.detail)
        return PolicyFired(
            operation_id=accepted.operation.id, workflow_id=accepted.operation.workflow_id
        )

    @activity.defn(name=POLICY_WAIT.name)
    async def wait(self, workflow_id: str) -> str:
        """The operation's outcome: succeeded or failed (heartbeating while it runs)."""
        result = asyncio.ensure_future(self.client.get_workflow_handle(workflow_id).result())
        while not result.done():
            activity.heartbeat()
            await asyncio.wait([result], timeout=2)
        try:
            result.result()
        except WorkflowFailureError:
            return "failed"
        return "succeeded"

    @activity.defn(name=POLICY_PRUNE.name)
    async def prune(self, inp: PolicyRef) -> int:
        """Delete the policy's snapshots beyond its last ``max_snaps``, oldest first, each
        its own operation (waited for). One whose volume is busy is left for next time."""
        async with self.db.conn() as conn:
            policy = await policies.find(conn, inp.policy_id)
            extra = await policies.beyond_keep(conn, policy) if policy else []
        ctx = system_context(self.db, self.client, self.settings)
        deleted = 0
        for snap in extra:
            try:
                accepted = await snapshot_commands.delete_snapshot(
                    ctx, snap.id, f"snapshot-policy-prune:{snap.id}"
                )
            except StratoError:
                continue
            if await self.wait(accepted.operation.workflow_id) == "succeeded":
                deleted += 1
        return deleted

    def all(self) -> list[Callable[..., Any]]:
        return activities_of(self)
