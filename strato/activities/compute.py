"""Compute activities: run on ``compute@<host>`` by that host's agent, with its driver."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from strato.domain.ids import Activities
from strato.domain.payloads import ConnectHostInput, HostFacts
from strato.drivers.hypervisor.base import HypervisorDriver


class ComputeActivities:
    def __init__(self, driver: HypervisorDriver, host_name: str) -> None:
        self.driver = driver
        self.host_name = host_name

    @activity.defn(name=Activities.CONNECT_HOST)
    async def connect_host(self, inp: ConnectHostInput) -> HostFacts:
        """Read the host's facts from its hypervisor. Read-only, so trivially idempotent."""
        if inp.host_name != self.host_name:
            # A misrouted task would record another machine's capacity: refuse it.
            raise ApplicationError(
                f"agent for {self.host_name} received a task for {inp.host_name}",
                type="wrong-host",
                non_retryable=True,
            )
        return await self.driver.host_facts()
