"""The orchestrator's data-service activities: each subsystem package lists its classes.

A subsystem's ``strato.activities.<subsystem>.records`` module, when it has one, exports
``DATA_SERVICE``: the classes built with the database whose ``all()`` are the activities run on
the orchestration queue. Host-bound activities (hypervisor, storage pool) stay out of it: the
agents import those modules alone, without the database layer.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any, Protocol

from strato.schema.db import Database

SUBSYSTEMS = ("fabric", "compute", "storage", "network", "directory")


class DataService(Protocol):
    def __init__(self, db: Database) -> None: ...

    def all(self) -> list[Callable[..., Any]]: ...


def data_service(
    db: Database, subsystems: tuple[str, ...] = SUBSYSTEMS
) -> list[Callable[..., Any]]:
    activities: list[Callable[..., Any]] = []
    for name in subsystems:
        module_name = f"strato.activities.{name}.records"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        classes: list[type[DataService]] = module.DATA_SERVICE
        for cls in classes:
            activities.extend(cls(db).all())
    return activities
