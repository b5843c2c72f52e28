"""Every workflow type the orchestrator worker runs."""

from __future__ import annotations

from strato.workflows.add_host import AddHostWorkflow

ALL_WORKFLOWS: list[type] = [AddHostWorkflow]
