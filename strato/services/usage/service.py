"""The usage service as the seam sees it (STRATO_SERVICES=usage)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic_settings import BaseSettings

from strato.services.base import BaseService, Process
from strato.services.usage import api, cli
from strato.services.usage.settings import UsageSettings


class UsageService(BaseService):
    name: ClassVar[str] = "usage"
    settings_model: ClassVar[type[BaseSettings] | None] = UsageSettings
    migrations: ClassVar[str | None] = "strato.services.usage.migrations"

    def routers(self) -> Sequence[Any]:
        return (api.router,)

    def add_commands(self, sub: Any) -> None:
        cli.add_commands(sub)

    def processes(self) -> Sequence[Process]:
        return (Process("aggregator", "strato.services.usage.run"),)
