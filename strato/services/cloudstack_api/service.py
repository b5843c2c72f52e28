"""The CloudStack-compatible API as the seam sees it (STRATO_SERVICES=cloudstack_api)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from strato.services.base import BaseService

# Each module registers its commands when imported.
from strato.services.cloudstack_api import (  # noqa: F401
    accounts,
    catalog,
    endpoint,
    jobs,
    keys_tags,
    network,
    rules,
    storage,
    templates,
    unsupported,
    vms,
)


class CloudstackSettings(BaseSettings):
    # The largest page a list answers (CloudStack's default.page.size).
    max_page_size: int = Field(default=500, ge=1, le=10_000)


class CloudstackApiService(BaseService):
    name: ClassVar[str] = "cloudstack_api"
    settings_model: ClassVar[type[BaseSettings] | None] = CloudstackSettings
    migrations: ClassVar[str | None] = "strato.services.cloudstack_api.migrations"

    def __init__(self, settings: BaseSettings | None = None) -> None:
        super().__init__(settings if settings is not None else CloudstackSettings())

    def root_routers(self) -> Sequence[Any]:
        assert isinstance(self.settings, CloudstackSettings)
        return (endpoint.make_router(self.settings.max_page_size),)
