"""The ACL service as the seam sees it (STRATO_SERVICES=acl)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic_settings import BaseSettings

from strato.services.acl import api, api_keys, api_sessions, cli
from strato.services.acl.auth import AclAuth
from strato.services.acl.limits import AccountLimits
from strato.services.acl.settings import AclSettings
from strato.services.base import BaseService, Process


class AclService(BaseService):
    name: ClassVar[str] = "acl"
    settings_model: ClassVar[type[BaseSettings] | None] = AclSettings
    migrations: ClassVar[str | None] = "strato.services.acl.migrations"

    def __init__(self, settings: BaseSettings | None = None) -> None:
        super().__init__(settings if settings is not None else AclSettings())
        assert isinstance(self.settings, AclSettings)
        self.auth = AclAuth(self.settings)
        self.account_limits = AccountLimits()

    def routers(self) -> Sequence[Any]:
        return (api_sessions.router, api.router, api_keys.router)

    def processes(self) -> Sequence[Process]:
        return (Process("housekeeping", "strato.services.acl.run"),)

    def add_commands(self, sub: Any) -> None:
        cli.add_commands(sub)

    def authenticator(self) -> Any:
        return self.auth

    def authorizer(self) -> Any:
        return self.auth

    def limits(self) -> Any:
        return self.account_limits
