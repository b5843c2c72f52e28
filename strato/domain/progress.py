"""What a running operation is doing now: the ``progress`` query's answer."""

from __future__ import annotations

from pydantic import BaseModel


class StepProgress(BaseModel):
    """What a running operation is doing now; returned by every workflow's ``progress`` query."""

    step: str = "pending"
    steps_done: int = 0
    steps_total: int = 1
    percent: int = 0
    detail: str = ""
