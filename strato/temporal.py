"""Connecting to Temporal the one way every Strato process does."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from strato.settings import Settings

_RUNTIMES: dict[str, Runtime] = {}


def metrics_runtime(listen: str) -> Runtime:
    """A Temporal runtime serving its metrics (task and step latencies, schedule-to-start,
    pollers, requests) for Prometheus on ``listen`` (``HOST:PORT``); one per address."""
    if listen not in _RUNTIMES:
        _RUNTIMES[listen] = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=listen, durations_as_seconds=True)
            )
        )
    return _RUNTIMES[listen]


async def connect(
    address: str,
    namespace: str = "default",
    *,
    wait_s: float = 0.0,
    tls: TLSConfig | bool = False,
    metrics_listen: str = "",
) -> Client:
    """Connect with the pydantic converter; retry for up to ``wait_s`` while the server
    starts. ``metrics_listen``: serve the SDK's metrics there (workers and agents)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    runtime = metrics_runtime(metrics_listen) if metrics_listen else None
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
                tls=tls,
                runtime=runtime,
            )
        except RuntimeError:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(0.25)


async def connect_to(
    settings: Settings, *, wait_s: float = 0.0, metrics_listen: str = ""
) -> Client:
    """The Temporal this deployment uses: its address, namespace and TLS settings."""
    return await connect(
        settings.resolved_temporal_address(),
        settings.temporal_namespace,
        wait_s=wait_s,
        tls=settings.temporal_tls_config(),
        metrics_listen=metrics_listen,
    )


async def retention(client: Client) -> timedelta:
    """How long the client's namespace keeps ended workflows' histories."""
    desc = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    return desc.config.workflow_execution_retention_ttl.ToTimedelta()


async def ensure_retention(client: Client, days: int) -> bool:
    """Set the namespace's retention to ``days`` unless it already is; True if it changed.
    Only the retention is sent: the namespace's other settings stay as they are."""
    want = timedelta(days=days)
    if await retention(client) == want:
        return False
    ttl = Duration()
    ttl.FromTimedelta(want)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace,
            config=NamespaceConfig(workflow_execution_retention_ttl=ttl),
        )
    )
    return True
