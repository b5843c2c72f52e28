"""Running a developer's workflows on Strato's Temporal.

:func:`connect` reaches the same Temporal as the platform, with the same data converter
(pydantic), so the developer's runs sit beside Strato's own in the Temporal UI;
:func:`worker` runs the developer's workflows and activities together with the SDK's
steps (:mod:`strato.sdk.workflow`) on the app's task queue (``app-<name>``: apart from
Strato's queues); :func:`start` starts a run there with its ``StratoResources`` search
attribute seeded, so it is found by those resources from its first moment::

    client = await connect()
    async with AsyncStratoClient.from_env() as api:
        async with worker(client, api, app="bluegreen", workflows=[Redeploy]):
            handle = await start(client, Redeploy.run, zone_id, app="bluegreen",
                                 id=f"redeploy-{zone_id}")
            print(await handle.result())

The address and namespace default to STRATO_TEMPORAL_ADDRESS (127.0.0.1:7233) and
STRATO_TEMPORAL_NAMESPACE (default).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from strato.sdk.aio import AsyncStratoClient
from strato.sdk.steps import StratoSteps
from strato.sdk.workflow import RESOURCES


def task_queue(app: str) -> str:
    """The task queue of a developer's app (never one of Strato's own)."""
    if not app or any(c.isspace() for c in app):
        raise ValueError(f"an app name is a word, not {app!r}")
    return f"app-{app}"


async def connect(
    address: str | None = None,
    *,
    namespace: str | None = None,
    tls: TLSConfig | bool = False,
) -> Client:
    """A Temporal client of Strato's server, with Strato's data converter."""
    return await Client.connect(
        address or os.environ.get("STRATO_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        namespace=namespace or os.environ.get("STRATO_TEMPORAL_NAMESPACE", "default"),
        data_converter=pydantic_data_converter,
        tls=tls,
    )


def worker(
    client: Client,
    api: AsyncStratoClient,
    *,
    app: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]] = (),
    **options: Any,
) -> Worker:
    """A worker of the app's workflows and activities, and of the SDK's steps (which
    call the API through ``api``). ``options`` go to Temporal's ``Worker``."""
    return Worker(
        client,
        task_queue=task_queue(app),
        workflows=list(workflows),
        activities=[*StratoSteps(api).all(), *activities],
        **options,
    )


async def start(
    client: Client,
    run: Any,
    arg: Any = None,
    *,
    app: str,
    id: str,
    resources: Sequence[str] = (),
    **options: Any,
) -> WorkflowHandle[Any, Any]:
    """Start ``run`` (a workflow's run method, or its type name) on the app's queue,
    found by ``resources`` in the Temporal UI from the start. ``options`` go to
    ``Client.start_workflow`` (id reuse and conflict policies, timeouts, ...)."""
    attributes = (
        TypedSearchAttributes([SearchAttributePair(RESOURCES, list(resources))])
        if resources
        else None
    )
    args = [] if arg is None else [arg]
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        run,
        args=args,
        id=id,
        task_queue=task_queue(app),
        search_attributes=attributes,
        **options,
    )
    return handle
