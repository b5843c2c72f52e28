"""How every REST route that accepts an operation answers: 202 with the operation and its
resource (:class:`Accepted`), the operation's URL in ``Location``."""

from typing import Any
from uuid import UUID

from fastapi import Response, status

from strato.commands.view import Accepted

ACCEPTED: dict[str, Any] = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Accepted}


def located(response: Response, accepted: Accepted) -> Accepted:
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted


def operation_header(op: UUID | None) -> dict[str, str]:
    """A synchronous change that an operation carries to the hosts (a network's rules,
    a security group's) names that operation; none: nothing to carry."""
    return {"Operation-Location": f"/api/v1/operations/{op}"} if op is not None else {}
