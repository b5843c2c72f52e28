"""What an agent says about its host besides its VM report: its health endpoint (what a
neighbour's probe asks when the agent's host has gone silent,
:mod:`strato.activities.fabric.probe`; ``GET /health`` answers the host it serves and its
identity, anything else is 404; it runs in the agent's own event loop, so an agent that
answers is an agent that runs), and its running VMs' counters (sent with each
heartbeat)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from strato.domain.compute.specs import PowerState, VmPowerInfo
from strato.domain.fabric import monitor
from strato.domain.fabric.monitor import HostBeat, HostMonitorsInput, HostView
from strato.domain.fabric.payloads import VmStatSample
from strato.drivers.hypervisor.base import HypervisorDriver, HypervisorError

log = logging.getLogger(__name__)


class HealthEndpoint:
    def __init__(self, server: asyncio.Server, url: str) -> None:
        self.server = server
        self.url = url

    @classmethod
    async def start(cls, listen: str, identity: dict[str, str]) -> HealthEndpoint:
        """Answer ``GET /health`` on ``listen`` (ADDRESS:PORT; port 0: any free one)
        with ``identity`` (the compute agent's: its host and agent id)."""
        address, _, port = listen.rpartition(":")
        if not address or not port.isdigit():
            raise ValueError(f"health endpoint {listen!r} is not ADDRESS:PORT")
        body = json.dumps({**identity, "status": "serving"})

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
                ok = request.startswith(b"GET ") and path == b"/health"
                text = body if ok else json.dumps({"error": "not found"})
                status = "200 OK" if ok else "404 Not Found"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n{text}".encode()
                )
                await writer.drain()
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass  # a client that went away or sent nothing: nothing to answer
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

        server = await asyncio.start_server(answer, address.strip("[]"), int(port))
        bound = server.sockets[0].getsockname()[1]
        shown = f"[{address.strip('[]')}]" if ":" in address.strip("[]") else address
        return cls(server, f"http://{shown}:{bound}/health")

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def sample(driver: HypervisorDriver, vms: list[VmPowerInfo]) -> list[VmStatSample]:
    """The counters of the running VMs Strato manages (one that vanished meanwhile, or
    that the hypervisor cannot read, is left out of this beat)."""
    out = []
    for v in vms:
        if not v.managed or v.power != PowerState.RUNNING:
            continue
        try:
            out.append(VmStatSample(uuid=v.uuid, stats=await driver.stats(v.name)))
        except HypervisorError:
            continue
    return out


def _by_shard(host_ids: Iterable[uuid.UUID], shards: int, queue: str) -> dict[str, list[uuid.UUID]]:
    out: dict[str, list[uuid.UUID]] = defaultdict(list)
    for host_id in host_ids:
        out[monitor.monitor_id(host_id, shards, queue)].append(host_id)
    return out


async def send_beats(client: Client, queue: str, shards: int, beats: list[HostBeat]) -> None:
    """The heartbeats to their hosts' HostMonitors shards, one batch per shard (each
    started by its first batch if it does not run)."""
    by_id = {b.host_id: b for b in beats}
    for shard_id, ids in sorted(_by_shard(by_id, shards, queue).items()):
        await client.start_workflow(
            monitor.HOST_MONITORS.name,
            HostMonitorsInput(shard=monitor.shard_of(ids[0], shards)),
            id=shard_id,
            task_queue=queue,
            start_signal="beats",
            start_signal_args=[[by_id[i] for i in ids]],
        )


async def views(
    client: Client, queue: str, shards: int, host_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, HostView]:
    """What the hosts' shards know of them (a shard that cannot answer, or a host it does
    not watch yet, is left out: its agent asks again next beat)."""
    out: dict[uuid.UUID, HostView] = {}
    for shard_id, ids in sorted(_by_shard(host_ids, shards, queue).items()):
        handle = client.get_workflow_handle(shard_id)
        try:
            got = await handle.query(
                "hosts",
                [str(i) for i in ids],
                result_type=dict[str, HostView],
                rpc_timeout=timedelta(seconds=5),
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
            log.debug("no answer from host monitor %s (%s)", shard_id, err)
            continue
        out.update({uuid.UUID(k): v for k, v in got.items()})
    return out


async def destroy_fenced(driver: HypervisorDriver, names: list[str]) -> int:
    """Destroy and undefine the domains the host's monitor names (its ``fence``: the
    host was Down and those VMs were fenced; some run elsewhere now). Returns how many
    it was told of; one it cannot destroy is logged, and named again next beat."""
    for name in names:
        log.warning("destroying the domain of fenced VM %s (its host was Down)", name)
        try:
            await driver.stop_vm(str(name), force=True)
            await driver.undefine_vm(str(name))
        except HypervisorError as err:
            log.error("cannot destroy fenced domain %s: %s", name, err)
    return len(names)
