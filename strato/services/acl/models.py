"""What the ACL API reads and writes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from strato.schema.holdings import RESOURCES
from strato.services.acl.rules import PATTERN, Permission, RoleType

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@+-]{0,63}$")


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "must be 1-64 characters: letters, digits, space, _ . @ + -, starting with a "
            "letter or digit (no '/')"
        )
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


State = Literal["Enabled", "Disabled"]


class Domain(BaseModel):
    id: UUID
    name: str
    parent_id: UUID | None
    path: str
    state: str
    created_at: datetime


class DomainCreate(Strict):
    name: str
    parent_id: UUID

    _n = field_validator("name")(_name)


class Account(BaseModel):
    id: UUID
    domain_id: UUID
    domain_path: str
    name: str
    role_id: UUID
    role: str
    role_type: str
    state: str
    created_at: datetime


class AccountCreate(Strict):
    name: str
    domain_id: UUID
    role_id: UUID

    _n = field_validator("name")(_name)


class AccountUpdate(Strict):
    state: State | None = None
    role_id: UUID | None = None


class User(BaseModel):
    id: UUID
    account_id: UUID
    domain_id: UUID
    username: str
    source: str
    state: str
    email: str
    created_at: datetime


Password = Annotated[str, Field(min_length=8, max_length=256)]


class UserCreate(Strict):
    account_id: UUID
    username: str
    password: Password
    email: str = Field(default="", max_length=254)

    _n = field_validator("username")(_name)


class UserUpdate(Strict):
    state: State | None = None
    password: Password | None = None


class RuleIn(Strict):
    rule: str
    permission: Permission
    description: str = Field(default="", max_length=200)

    @field_validator("rule")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if not PATTERN.match(value):
            raise ValueError("a rule is an operation name or glob: a-z 0-9 _ - . *")
        return value


class Role(BaseModel):
    id: UUID
    name: str
    type: str
    description: str
    builtin: bool
    rules: list[RuleIn]


class RoleCreate(Strict):
    name: str
    type: RoleType
    description: str = Field(default="", max_length=200)
    rules: list[RuleIn] = Field(default_factory=list, max_length=500)

    _n = field_validator("name")(_name)


class RulesReplace(Strict):
    rules: list[RuleIn] = Field(max_length=500)


class ApiKeyPair(BaseModel):
    id: UUID
    user_id: UUID
    name: str
    access_key: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyPair):
    secret_key: str  # shown once


class ApiKeyCreate(Strict):
    name: str = Field(default="", max_length=100)


LimitedResource = Literal[RESOURCES]  # type: ignore[valid-type]


class LimitSet(Strict):
    max: int = Field(ge=-1, le=2**62, description="-1: unlimited")


class Limit(BaseModel):
    resource: str
    max: int  # -1: unlimited
    used: int
    exceeded: bool  # a limit set below what is held already (allowed, reported)


class Login(Strict):
    domain: str = Field(default="ROOT", min_length=1, max_length=1000)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Session(BaseModel):
    token: str
    expires_at: datetime
    user: User


class WhoAmI(BaseModel):
    name: str
    scope: str
    user_id: UUID | None = None
    account_id: UUID | None = None
    domain_path: str | None = None
    role: str | None = None
    role_type: str | None = None
