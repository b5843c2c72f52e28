"""Field types shared by every front door's request models: bounded numbers, names, tags.

A request model refuses unknown fields (:class:`Request`): a typo must never be silently
ignored, whichever front door it came through.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
Text = Annotated[str, StringConstraints(max_length=1024)]
Url = Annotated[str, StringConstraints(max_length=2048)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Tags = Annotated[list[Tag], Field(max_length=32)]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]
Positive32 = Annotated[int, Field(gt=0, le=2**31 - 1)]
Bytes = Annotated[int, Field(ge=0, le=2**62)]
Ratio = Annotated[float, Field(ge=1.0, le=1000.0)]
Share = Annotated[float, Field(gt=0.0, le=1.0)]  # a fraction of a whole: (0, 1]


class Request(BaseModel):
    """Unknown fields are errors: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


def ascii_number(value: str, *, max_value: int) -> int | None:
    """``value`` as a number when it is plain ASCII digits no greater than ``max_value``;
    None otherwise (``str.isdigit`` also accepts "²" and other digits ``int`` refuses)."""
    if not value or len(value) > 20 or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= max_value else None
