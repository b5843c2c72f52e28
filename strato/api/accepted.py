"""How every REST route that accepts an operation answers: 202 with the operation and its
resource (:class:`Accepted`), the operation's URL in ``Location``."""

from typing import Any

from fastapi import Response, status

from strato.commands.view import Accepted

ACCEPTED: dict[str, Any] = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Accepted}


def located(response: Response, accepted: Accepted) -> Accepted:
    response.headers["Location"] = f"/api/v1/operations/{accepted.operation.id}"
    return accepted
