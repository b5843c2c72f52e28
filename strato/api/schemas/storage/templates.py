"""Image stores (secondary storage): request bodies and filters."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import model_validator

from strato.api.schemas.common import Filter, Name, Request, Url

StoreState = Literal["Up", "ReadOnly", "Disabled"]


class ImageStoreCreate(Request):
    name: Name
    zone_id: UUID
    driver: Literal["directory", "simulator"] = "directory"
    url: Url

    @model_validator(mode="after")
    def _directory_has_a_path(self) -> ImageStoreCreate:
        if self.driver == "directory" and not self.url.startswith(("file:///", "/")):
            raise ValueError("a directory image store needs url file:///<absolute path>")
        return self


class ImageStoreUpdate(Request):
    state: StoreState | None = None


class ImageStoreFilter(Filter):
    zone_id: UUID | None = None
    name: Name | None = None
    state: StoreState | None = None
