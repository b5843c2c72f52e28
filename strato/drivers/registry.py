"""Choose a driver implementation by name through entry points (``strato.drivers.<kind>``)."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any


class UnknownDriver(LookupError):
    pass


@functools.cache
def load(kind: str, name: str) -> Any:
    """The class registered as ``name`` in group ``strato.drivers.<kind>``."""
    group = f"strato.drivers.{kind}"
    found = {ep.name: ep for ep in entry_points(group=group)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise UnknownDriver(f"no {kind} driver named {name!r} (known: {known})")
    return found[name].load()
