"""Find installed services (entry points) and build the ones the settings switch on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, cast

from strato.domain import events
from strato.services.base import Service
from strato.settings import Settings

if TYPE_CHECKING:
    from strato.schema.migrate import Track

GROUP = "strato.services"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class ServiceError(RuntimeError):
    """A service named in the settings is not installed, or is not a service."""


def installed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(names: Iterable[str]) -> list[Service]:
    """Build the named services, in order, each with its settings section."""
    found = installed()
    services: list[Service] = []
    for name in names:
        if name not in found:
            have = ", ".join(sorted(found)) or "none"
            raise ServiceError(
                f"service {name!r} is switched on (STRATO_SERVICES) but not installed "
                f"(installed: {have})"
            )
        cls = found[name].load()
        if getattr(cls, "name", None) != name or not _NAME.match(name):
            raise ServiceError(f"entry point {name!r} does not name a service called {name!r}")
        model = getattr(cls, "settings_model", None)
        settings = model(_env_prefix=f"STRATO_{name.upper()}_") if model is not None else None
        service = cast(Service, cls(settings))
        events.register(*service.event_types())
        services.append(service)
    return services


def enabled(settings: Settings) -> list[Service]:
    return load(settings.service_names)


def tracks(services: Sequence[Service]) -> list[Track]:
    """The migration tracks to apply: the core's, then each service's own."""
    from strato.schema.migrate import CORE, Track

    return [CORE] + [Track(s.name, s.migrations) for s in services if s.migrations]
