"""Every workflow type the orchestrator worker runs, found by walking ``strato.workflows``.

A new operation adds its module under its subsystem's package; nothing central lists it.
"""

from __future__ import annotations

import importlib
import pkgutil


def discover(package: str = "strato.workflows") -> list[type]:
    """Import every module under ``package`` and return its workflow classes, by module name."""
    root = importlib.import_module(package)
    found: list[type] = []
    for info in sorted(pkgutil.walk_packages(root.__path__, f"{package}."), key=lambda i: i.name):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and obj.__module__ == module.__name__
                and hasattr(obj, "__temporal_workflow_definition")
            ):
                found.append(obj)
    return found


ALL_WORKFLOWS: list[type] = discover()
