"""Workers and agents serve Temporal's own metrics for Prometheus when given an address."""

from __future__ import annotations

import httpx
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from strato.temporal import connect
from tests.conftest import TemporalServer, free_port


async def test_a_client_with_a_metrics_address_serves_temporal_metrics(
    temporal_server: TemporalServer,
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    client = await connect(temporal_server.address, metrics_listen=listen)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://{listen}/metrics")
    assert r.status_code == 200
    assert "temporal_request" in r.text, r.text[:500]
