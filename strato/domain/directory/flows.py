"""How a process without database access enters and leaves the directory: it starts a
``DirectoryAnnounce`` run on the orchestration queue (as an agent starts RegisterHost),
and the orchestrator records. Agents and the template service announce themselves so;
the directory then checks their health endpoints itself."""

from __future__ import annotations

from pydantic import BaseModel, model_validator

from strato.domain.directory.models import InstanceName, ServiceRegister
from strato.domain.steps import Flow, Step


class Announcement(BaseModel):
    """Either ``enter`` (register, or refresh: same name) or ``leave`` (withdraw the
    instance of that name, if it is there)."""

    enter: ServiceRegister | None = None
    leave: InstanceName | None = None
    reason: str = "stopped"

    @model_validator(mode="after")
    def _one(self) -> Announcement:
        if (self.enter is None) == (self.leave is None):
            raise ValueError("an announcement registers or withdraws, exactly one of them")
        return self


ANNOUNCE: Flow[Announcement, None] = Flow("DirectoryAnnounce", Announcement, None)
DIRECTORY_ANNOUNCE: Step[Announcement, None] = Step(
    "records.directory_announce", Announcement, None
)
