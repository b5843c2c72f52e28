"""Role rules in CloudStack's dynamic-roles shape: an ordered list of (rule, permission),
the first rule whose pattern matches an operation decides; none matching denies.

Operations are named as the core names them (``vm.deploy``, ``vm.destroy`` from the
commands; ``vm.list``, ``host.get``, ``vm.backup.list`` from the routes; see
strato.api.deps.route_action). A pattern is a glob: ``*`` matches anything, dots
included, so ``vm.*`` is every VM operation. Hyphens and underscores are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal
from uuid import UUID

Permission = Literal["allow", "deny"]
RoleType = Literal["Admin", "DomainAdmin", "User"]
PATTERN = re.compile(r"^[a-z0-9_.*-]{1,128}$")

ROOT_DOMAIN = UUID("00000000-0000-4000-8000-00000000ac10")
ADMIN_ACCOUNT = UUID("00000000-0000-4000-8000-00000000ac20")
ROOT_ADMIN = UUID("00000000-0000-4000-8000-00000000ac01")
DOMAIN_ADMIN = UUID("00000000-0000-4000-8000-00000000ac02")
USER = UUID("00000000-0000-4000-8000-00000000ac03")
READ_ONLY = UUID("00000000-0000-4000-8000-00000000ac04")


@dataclass(frozen=True)
class Rule:
    rule: str
    permission: Permission
    description: str = ""


def normal(name: str) -> str:
    return name.replace("-", "_").lower()


def allows(rules: tuple[Rule, ...], operation: str) -> bool:
    """Whether ``rules`` allow ``operation``: the first match decides, none denies."""
    op = normal(operation)
    for r in rules:
        if fnmatchcase(op, normal(r.rule)):
            return r.permission == "allow"
    return False
