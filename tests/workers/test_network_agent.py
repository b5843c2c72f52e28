"""The network agent (strato agent network) against real Temporal and a real private Open
vSwitch: it serves network@<host>, a workflow implements a network, plugs a port and
applies a router there through it; on a clean stop it removes the routers it runs and
the private OVS it started (a switch it found is left)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from strato.activities.network.agent import NetworkActivities
from strato.domain.ids import network_queue
from strato.domain.network.payloads import PlugInput, UnplugInput
from strato.domain.network.specs import (
    DhcpHost,
    NetworkSpec,
    PortInfo,
    PortSecurity,
    PortSpec,
    RouterInfo,
    RouterSpec,
)
from strato.domain.network.steps import APPLY_ROUTER, IMPLEMENT_NETWORK, PLUG_PORT
from strato.drivers.network.simulator import SimulatorNetworkElement, SimulatorRouter
from strato.settings import Settings
from strato.workers.network_agent import NetworkAgent, answers
from tests.netlab import NetLab, netlab, sh

__all__ = ["netlab"]


class Steps(BaseModel):
    queue: str
    network: str
    mac: str


@workflow.defn(name="TestNetworkAgentSteps")
class NetworkSteps:
    @workflow.run
    async def run(self, inp: Steps) -> list[str]:
        opts = {"task_queue": inp.queue, "start_to_close_timeout": timedelta(seconds=60)}
        net = NetworkSpec(name=inp.network, kind="isolated", segment="501")
        await workflow.execute_activity(IMPLEMENT_NETWORK.name, net, **opts)  # type: ignore[arg-type]
        port: PortInfo = await workflow.execute_activity(
            PLUG_PORT.name,
            PortSpec(network=inp.network, mac=inp.mac),
            result_type=PortInfo,
            **opts,  # type: ignore[arg-type]
        )
        spec = RouterSpec(
            network=inp.network,
            tag=501,
            cidr="10.90.0.0/24",
            address="10.90.0.1",
            hosts=[DhcpHost(mac=inp.mac, ip="10.90.0.5", hostname="vm1")],
        )
        info: RouterInfo = await workflow.execute_activity(
            APPLY_ROUTER.name,
            spec,
            result_type=RouterInfo,
            **opts,  # type: ignore[arg-type]
        )
        return [port.device, info.namespace]


async def test_the_agent_serves_its_queue_and_cleans_up(
    netlab: NetLab, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    host = f"{netlab.prefix}n{uuid.uuid4().hex[:4]}"
    # No OVS answers where it looks: the agent starts its own (in a namespace of its own).
    ns = f"{netlab.prefix}-a{uuid.uuid4().hex[:4]}"
    sh("ip", "netns", "add", ns)
    netlab.namespaces.append(ns)
    agent = NetworkAgent(
        settings,
        host,
        netlab.state_dir / f"agent-{host}",
        ovs_db=f"unix:{tmp_path / 'nothing.sock'}",
        bridge=f"{netlab.prefix}i{uuid.uuid4().hex[:3]}",
        netns=ns,
        prefix=netlab.prefix,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    queue = f"test-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            temporal_client,
            task_queue=queue,
            workflows=[NetworkSteps],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            device, router_ns = await temporal_client.execute_workflow(
                NetworkSteps.run,
                Steps(queue=network_queue(host), network="agent-net", mac="02:aa:00:00:00:05"),
                id=f"test-net-agent-{uuid.uuid4()}",
                task_queue=queue,
                execution_timeout=timedelta(seconds=120),
            )
        assert agent.private is not None and answers(agent.private.db, ns)
        assert device == "sg02aa00000005"
        assert router_ns in sh("ip", "netns", "list").stdout
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
    assert router_ns not in sh("ip", "netns", "list").stdout  # its router went
    assert agent.private is not None and not answers(agent.private.db, ns)  # and its OVS


async def test_a_plug_of_ports_plugged_already_brings_back_none() -> None:
    """Security updated on ports another VM's change concerns (``only_plugged``): the
    ports still here get it; one its VM unplugged meanwhile stays unplugged."""
    element = SimulatorNetworkElement("h1")
    acts = NetworkActivities(element, SimulatorRouter("h1"))
    env = ActivityEnvironment()
    net = NetworkSpec(name="n-sec", kind="isolated", segment="101")
    here, gone = (
        PortSpec(network=net.name, mac=m) for m in ("02:00:00:00:00:01", "02:00:00:00:00:02")
    )
    await env.run(acts.plug_all, PlugInput(networks=[net], ports=[here, gone]))
    await env.run(acts.unplug, UnplugInput(network=net.name, mac=gone.mac))
    secure = PortSecurity(ip_address="10.0.0.5")
    done = await env.run(
        acts.plug_all,
        PlugInput(
            ports=[p.model_copy(update={"security": secure}) for p in (here, gone)],
            only_plugged=True,
        ),
    )
    assert [p.mac for p in done] == [here.mac]
    assert set(element.ports[net.name]) == {here.mac}
    assert element.security[here.mac] == secure and gone.mac not in element.security
