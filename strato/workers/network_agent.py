"""The network agent (``strato agent network``): one per host, like Neutron's OVS and L3
agents, but its commands arrive as Temporal activities on ``network@<host>``.

It uses the host's Open vSwitch if one answers on ``ovs_db``; otherwise it starts its own
private one under its state directory (see :mod:`strato.drivers.network.ovs_daemon`). On
a clean stop it removes what it made: the routers it runs and the private OVS it started
(a host's own OVS is left as it is).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from temporalio.worker import Worker

from strato.activities.network.agent import NetworkActivities
from strato.domain.ids import network_queue
from strato.drivers.network.ovs import OvsElement
from strato.drivers.network.ovs_daemon import PrivateOvs
from strato.drivers.network.vrouter import VirtualRouter
from strato.settings import Settings
from strato.temporal import connect_to
from strato.workers.announce import announced, checked_instance
from strato.workers.health import HealthEndpoint

log = logging.getLogger(__name__)

HOST_OVS = "unix:/var/run/openvswitch/db.sock"


def answers(db: str, netns: str | None = None) -> bool:
    """Whether an OVS database answers on ``db``."""
    cmd = [*(["ip", "netns", "exec", netns] if netns else []), "ovs-vsctl", f"--db={db}"]
    done = subprocess.run(
        [*cmd, "--timeout=3", "show"], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


@dataclass
class NetworkAgent:
    settings: Settings
    host: str
    state_dir: Path
    ovs_db: str = HOST_OVS
    bridge: str = "br-strato"
    netns: str | None = None  # where the switch runs (tests: a "host" namespace)
    prefix: str = "strato"
    health_listen: str = "127.0.0.1:0"  # the endpoint the services directory checks

    def __post_init__(self) -> None:
        self.private: PrivateOvs | None = None

    def _switch(self) -> str:
        """The OVS database to use: the host's, else a private one started here."""
        if answers(self.ovs_db, self.netns):
            return self.ovs_db
        self.private = PrivateOvs(self.state_dir / "ovs", netns=self.netns)
        self.private.start()
        log.info("network agent %s: a private Open vSwitch in %s", self.host, self.private.dir)
        return self.private.db

    async def run(self, stop: asyncio.Event) -> None:
        db = await asyncio.to_thread(self._switch)
        element = OvsElement(self.host, db=db, bridge=self.bridge, netns=self.netns)
        router = VirtualRouter(element, self.state_dir / "routers", prefix=self.prefix)
        health: HealthEndpoint | None = None
        try:
            client = await connect_to(self.settings, wait_s=30)
            worker = Worker(
                client,
                task_queue=network_queue(self.host),
                activities=NetworkActivities(element, router).all(),
            )
            health = await HealthEndpoint.start(self.health_listen, {"host": self.host})
            me = checked_instance(
                self.settings,
                "network-agent",
                f"network-agent@{self.host}",
                health.url,
                metadata={"host": self.host, "queue": network_queue(self.host)},
            )
            async with worker, announced(client, self.settings, me):
                log.info("network agent polling %s", network_queue(self.host))
                await stop.wait()
        finally:
            if health is not None:
                await health.close()
            for network in router.applied():
                await router.destroy(network)
            if self.private is not None:
                # Its ports are kernel devices that would outlive the switch.
                await element.remove_ports()
                await asyncio.to_thread(self.private.stop)
