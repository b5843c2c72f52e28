"""Strato's SDK: clients of the REST API and a library for developers' workflows.

``pip install strato`` (no extras) installs this package alone. What it has:

- :class:`StratoClient` and :class:`AsyncStratoClient`: every collection of the API as
  an attribute (``client.vms.list()``, ``client.volumes.create(...)``,
  ``client.vms.act(id, "start")``), pages followed for you, operations waited for with
  their progress (``client.wait(accepted, on_change=print)``), refusals raised as the
  error class their status names (:mod:`strato.sdk.errors`);
- :mod:`strato.sdk.workflow` and :mod:`strato.sdk.worker`: Strato's operations as
  durable steps of your own Temporal workflows, and the worker that runs them.
"""

from strato.sdk.aio import AsyncCollection, AsyncStratoClient
from strato.sdk.client import Collection, StratoApiError, StratoClient
from strato.sdk.core import COLLECTIONS, Page
from strato.sdk.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OperationFailed,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    ServerError,
    StratoError,
    Unauthorized,
    WaitTimeout,
)
from strato.sdk.signing import HmacAuth

__all__ = [
    "COLLECTIONS",
    "ApiError",
    "AsyncCollection",
    "AsyncStratoClient",
    "BadRequest",
    "Collection",
    "Conflict",
    "Forbidden",
    "HmacAuth",
    "InvalidInput",
    "NotFound",
    "OperationFailed",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "StratoApiError",
    "StratoClient",
    "StratoError",
    "Unauthorized",
    "WaitTimeout",
]
