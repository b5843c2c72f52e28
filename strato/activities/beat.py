"""Run a host-bound driver call while heartbeating, and turn driver errors into
Temporal failures a workflow can act on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.drivers.hypervisor.base import MoveUncertain, NotBootable, Unsupported, VmNotFound
from strato.drivers.network.base import NetworkMissing, SegmentInvalid
from strato.drivers.storage.base import (
    ShrinkRefused,
    SnapshotNotFound,
    TemplateUnusable,
    VolumeNotFound,
)
from strato.drivers.storage.qcow2 import PoolUnusable

T = TypeVar("T")

# Well inside the workflows' heartbeat timeout (vm_steps.HOST_HEARTBEAT).
HEARTBEAT_EVERY_S = 2.0

# Retrying cannot change these: the workflow should compensate or try another host.
_PERMANENT: dict[type[Exception], str] = {
    NotBootable: "not-bootable",
    Unsupported: "unsupported",
    VmNotFound: "vm-not-found",
    TemplateUnusable: "template-unusable",
    PoolUnusable: "pool-unusable",
    VolumeNotFound: "volume-not-found",
    SnapshotNotFound: "snapshot-not-found",
    ShrinkRefused: "shrink-refused",
    MoveUncertain: "move-uncertain",
    NetworkMissing: "network-missing",
    SegmentInvalid: "segment-invalid",
}


async def beating(call: Awaitable[T]) -> T:
    """Await ``call``, heartbeating while it runs; permanent driver errors become
    non-retryable ApplicationErrors with a type a workflow can branch on."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_S)
            if done:
                return task.result()
            activity.heartbeat()
    except tuple(_PERMANENT) as err:
        kind = next(v for k, v in _PERMANENT.items() if isinstance(err, k))
        raise ApplicationError(str(err), type=kind, non_retryable=True) from err
    finally:
        if not task.done():
            task.cancel()
