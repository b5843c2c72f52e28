"""Stored histories of every workflow type replay with the current workflow code.

A change that would break executions already running in production (a step added,
removed or reordered without ``workflow.patched``) fails here. The histories are
refreshed deliberately, never by CI: ``scripts/refresh-histories``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from strato.domain.compute import flows
from strato.domain.compute.payloads import DeployVmInput, VmResult
from strato.workflows.compute.deploy_vm import DeployVmWorkflow
from strato.workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


def _load(path: Path) -> tuple[str, WorkflowHistory]:
    stored = json.loads(path.read_text())
    return stored["workflow_type"], WorkflowHistory.from_json(
        stored["workflow_id"], stored["history"]
    )


def test_every_workflow_type_has_a_stored_history() -> None:
    types = {cls.__temporal_workflow_definition.name for cls in ALL_WORKFLOWS}  # type: ignore[attr-defined]
    stored = {_load(p)[0] for p in FILES}
    assert types <= stored, f"no stored history for {sorted(types - stored)}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_history_replays_with_current_code(path: Path) -> None:
    _, history = _load(path)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@workflow.defn(name=flows.DEPLOY_VM.name, sandboxed=False)
class ChangedDeploy(DeployVmWorkflow):
    """DeployVm with one step added in front: what a careless change looks like."""

    @workflow.run
    async def run(self, inp: DeployVmInput) -> VmResult:
        await workflow.sleep(1)
        return await super().run(inp)


async def test_a_changed_workflow_fails_replay() -> None:
    """The check is real: a DeployVm with an extra first step does not replay."""
    path = next(p for p in FILES if p.name.startswith(f"{flows.DEPLOY_VM.name}-"))
    _, history = _load(path)
    replayer = Replayer(workflows=[ChangedDeploy], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert "Nondeterminism" in str(result.replay_failure), result.replay_failure
