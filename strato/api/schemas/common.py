"""List queries and pages; the field types live in :mod:`strato.domain.fields`."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from strato.domain.fields import (
    Bytes,
    Int32,
    Name,
    Positive32,
    Ratio,
    Request,
    Share,
    Tag,
    Tags,
    Text,
    Url,
)

__all__ = [
    "Bytes",
    "Filter",
    "Int32",
    "ListPage",
    "Name",
    "Positive32",
    "Ratio",
    "Request",
    "Share",
    "Tag",
    "Tags",
    "Text",
    "Url",
]

T = TypeVar("T")


class Filter(BaseModel):
    """List query: paging plus per-resource filters. Unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")

    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class ListPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
