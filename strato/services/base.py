"""What an optional service may bring to the platform.

Every hook has a default that brings nothing, so a service overrides only what it has:

- ``settings_model``: its settings section, read from ``STRATO_<NAME>_*`` variables;
- ``migrations``: the package of its own migration track (``NNNN_name.sql``), applied
  with the core's by ``strato migrate`` / ``strato up``, numbered independently;
- ``routers()``: FastAPI routers mounted under ``/api/v1``;
- ``root_routers()``: FastAPI routers mounted at the root, for a front door with paths
  of its own (the CloudStack-compatible API's ``/client/api``);
- ``workflows()`` / ``activities(db)``: run by the orchestrator worker;
- ``processes()``: extra processes ``strato up`` starts and supervises (each enters the
  services directory itself: :func:`strato.workers.directory.present` with database
  access, :func:`strato.workers.announce.announced` without);
- ``add_commands(sub)``: ``strato <command>`` subcommands (they talk to the API via the SDK);
- ``authenticator()``: proves who a request's caller is, before the core's API keys
  are tried (the ACL service's signed requests and sessions);
- ``authorizer()``: replaces the API-key authorizer (the ACL service);
- ``limits()``: per-owner resource limits (:mod:`strato.commands.limits`; the ACL service);
- ``event_types()``: its event types, added to the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic_settings import BaseSettings

from strato.domain.events import EventType


@dataclass(frozen=True)
class Process:
    """A process ``strato up`` runs for a service: ``python -m <module> <args>``."""

    name: str
    module: str
    args: list[str] = field(default_factory=list)


class Service(Protocol):
    name: ClassVar[str]
    settings_model: ClassVar[type[BaseSettings] | None]
    migrations: ClassVar[str | None]
    settings: BaseSettings | None

    def routers(self) -> Sequence[Any]: ...

    def root_routers(self) -> Sequence[Any]: ...

    def workflows(self) -> Sequence[type]: ...

    def activities(self, db: Any) -> Sequence[Callable[..., Any]]: ...

    def processes(self) -> Sequence[Process]: ...

    def add_commands(self, sub: Any) -> None: ...

    def authenticator(self) -> Any | None: ...

    def authorizer(self) -> Any | None: ...

    def limits(self) -> Any | None: ...

    def event_types(self) -> Sequence[EventType]: ...


class BaseService:
    """Defaults for every hook: a service subclasses this and overrides what it brings."""

    name: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseSettings] | None] = None
    migrations: ClassVar[str | None] = None

    def __init__(self, settings: BaseSettings | None = None) -> None:
        self.settings = settings

    def routers(self) -> Sequence[Any]:
        return ()

    def root_routers(self) -> Sequence[Any]:
        return ()

    def workflows(self) -> Sequence[type]:
        return ()

    def activities(self, db: Any) -> Sequence[Callable[..., Any]]:
        return ()

    def processes(self) -> Sequence[Process]:
        return ()

    def add_commands(self, sub: Any) -> None:
        return None

    def limits(self) -> Any | None:
        return None

    def authenticator(self) -> Any | None:
        return None

    def authorizer(self) -> Any | None:
        return None

    def event_types(self) -> Sequence[EventType]:
        return ()
