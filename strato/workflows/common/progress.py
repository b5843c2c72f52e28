"""Step tracking shared by workflows: the ``progress`` query every operation answers."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.progress import StepProgress


class Steps:
    """Names the operation's steps up front so progress is a true fraction."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.current = StepProgress(step="pending", steps_total=len(names))

    def enter(self, name: str, detail: str = "") -> None:
        index = self.names.index(name)
        self.current = StepProgress(
            step=name,
            steps_done=index,
            steps_total=len(self.names),
            percent=int(100 * index / len(self.names)),
            detail=detail,
        )

    def finish(self, detail: str = "") -> None:
        n = len(self.names)
        self.current = StepProgress(
            step="done", steps_done=n, steps_total=n, percent=100, detail=detail
        )
