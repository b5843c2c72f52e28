"""An activity class's activities, found on the class: no hand-kept list to forget one in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def activities_of(obj: object) -> list[Callable[..., Any]]:
    """The bound methods of ``obj`` defined as Temporal activities, by name."""
    return [
        getattr(obj, name)
        for name, fn in sorted(vars(type(obj)).items())
        if hasattr(fn, "__temporal_activity_definition")
    ]
