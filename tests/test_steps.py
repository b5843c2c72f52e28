"""Every typed step and flow has exactly one implementation, and they agree on types.

Workflows call activities through the ``Step`` objects of ``strato.domain.<subsystem>.steps``
and start workflows through the ``Flow`` objects of ``...flows``; the activity or workflow
that implements one must take and return exactly the types the stub says, or a call would
(de)serialize the wrong model at run time.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import strato.activities
import strato.domain
from strato.domain.steps import Flow, Step
from strato.workflows.registry import ALL_WORKFLOWS


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        yield importlib.import_module(info.name)


def _stubs(kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in _modules(strato.domain):
        for obj in vars(module).values():
            if isinstance(obj, kind):
                assert obj.name not in found or found[obj.name] is obj, f"{obj.name} defined twice"
                found[obj.name] = obj
    return found


def _activity_modules() -> Iterator[ModuleType]:
    """strato.activities, and the steps that act through the command layer."""
    yield from _modules(strato.activities)
    yield importlib.import_module("strato.commands.policy_steps")
    yield importlib.import_module("strato.commands.backup_schedules")
    yield importlib.import_module("strato.commands.host_ha")
    yield importlib.import_module("strato.commands.fleet_steps")


def _activities() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in _activity_modules():
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                continue
            for fn in vars(cls).values():
                defn = getattr(fn, "__temporal_activity_definition", None)
                if defn is not None:
                    assert defn.name not in found, f"activity {defn.name} implemented twice"
                    found[defn.name] = fn
    return found


def _signature(fn: Any) -> tuple[Any, Any]:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    assert len(params) <= 1, f"{fn.__qualname__} takes more than one input"
    arg = hints[params[0]] if params else None
    result = hints["return"]
    return arg, None if result is type(None) else result


STEPS = _stubs(Step)
FLOWS = _stubs(Flow)
ACTIVITIES = _activities()
WORKFLOWS = {cls.__temporal_workflow_definition.name: cls for cls in ALL_WORKFLOWS}


def test_the_stubs_were_found() -> None:
    assert "records.vm_begin" in STEPS and "compute.define_and_start_vm" in STEPS
    assert "DeployVm" in FLOWS and "AddHost" in FLOWS


def test_every_activity_is_a_step_and_every_step_is_implemented() -> None:
    assert set(ACTIVITIES) - set(STEPS) == set(), "activities without a typed step"
    assert set(STEPS) - set(ACTIVITIES) == set(), "steps nothing implements"


@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_types_match_its_activity(name: str) -> None:
    step = STEPS[name]
    arg, result = _signature(ACTIVITIES[name])
    assert (arg, result) == (step.arg, step.result), f"{name}: activity takes {arg} -> {result}"


def test_every_workflow_is_a_flow_and_every_flow_is_implemented() -> None:
    assert set(WORKFLOWS) == set(FLOWS)


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_types_match_its_workflow(name: str) -> None:
    flow = FLOWS[name]
    run = WORKFLOWS[name].__temporal_workflow_definition.run_fn
    arg, result = _signature(run)
    assert (arg, result) == (flow.arg, flow.result), f"{name}: workflow takes {arg} -> {result}"


def test_every_activity_is_served_by_its_class() -> None:
    """Each activity class's all() (what its worker registers) lists every activity it
    defines: a step nothing serves would wait on its queue until its timeout."""
    for module in _activity_modules():
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                continue
            defined = {
                fn.__temporal_activity_definition.name
                for fn in vars(cls).values()
                if hasattr(fn, "__temporal_activity_definition")
            }
            if not defined:
                continue
            instance = cls.__new__(cls)  # all() needs no state
            served = {fn.__temporal_activity_definition.name for fn in instance.all()}
            assert served == defined, f"{cls.__name__}.all() misses {defined - served}"
