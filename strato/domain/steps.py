"""Typed stubs of activities (steps) and workflows (flows): one definition of each.

A :class:`Step` names an activity's Temporal type and says what it takes and returns; the
workflow that calls it and the activity that implements it both use that one object, so a
call site never repeats a name string or a ``result_type``. A :class:`Flow` does the same
for a workflow type, for whoever starts it. Type names never change once released: stored
histories replay by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the input type
R = TypeVar("R")


@dataclass(frozen=True)
class Step(Generic[I, R]):
    """An activity: ``name`` (its Temporal type), ``arg`` (the input type, None for a step
    that takes nothing) and ``result`` (the result type, None for a step that returns nothing).
    The type parameters carry the same two types for the type checker."""

    name: str
    arg: Any
    result: Any


@dataclass(frozen=True)
class Flow(Generic[I, R]):
    """A workflow type: ``name`` (its Temporal type), the input and the result types."""

    name: str
    arg: Any
    result: Any
